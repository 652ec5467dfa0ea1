package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml's Q4_K ({@code block_q4_K}, 144 bytes per 256 values): fp16 d, fp16 dmin, 12 bytes holding eight 6-bit scales
 * and eight 6-bit minimums ({@code get_scale_min_k4}), then 128 bytes of nibbles in four runs of 32: byte l of run c
 * holds element 64c + l in its low nibble and 64c + 32 + l in its high nibble. Scale and minimum j cover elements
 * 32j .. 32j + 31; value = (d * scale) * q - dmin * min.
 */
final class Q4_KBlocks extends BlockDecoder {

    Q4_KBlocks() {
        super(GgmlType.Q4_K, true, Minimum.SCALED);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            out.dmin[b] = BlockBits.f16(data, at + 2);
            BlockBits.scaleMinK4(data, at + 4, out.scales, out.mins, 16 * b);
            for (int c = 0; c < 4; c++) {
                ShortVector v = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 16 + 32 * c,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                // On 16-bit lanes with masks: x86 has no byte shifts.
                v.and((short) 0x0F0F).reinterpretAsBytes().intoArray(out.q, 256 * b + 64 * c);
                v.lanewise(VectorOperators.LSHR, 4).and((short) 0x0F0F).reinterpretAsBytes()
                        .intoArray(out.q, 256 * b + 64 * c + 32);
            }
        }
    }
}
