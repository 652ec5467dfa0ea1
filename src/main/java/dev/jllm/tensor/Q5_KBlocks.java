package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml's Q5_K ({@code block_q5_K}, 176 bytes per 256 values): as Q4_K (fp16 d, fp16 dmin, 12 bytes of scales and
 * minimums, then 128 bytes of nibbles in four runs of 32), with 32 bytes of fifth bits between the scales and the
 * nibbles: bit 2c of byte l is the fifth bit of element 64c + l, bit 2c + 1 that of element 64c + 32 + l.
 * value = (d * scale) * q - dmin * min.
 */
final class Q5_KBlocks extends BlockDecoder {

    Q5_KBlocks() {
        super(GgmlType.Q5_K, true, Minimum.SCALED);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            out.dmin[b] = BlockBits.f16(data, at + 2);
            BlockBits.scaleMinK4(data, at + 4, out.scales, out.mins, 16 * b);
            ShortVector fifth = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 16, ByteOrder.LITTLE_ENDIAN)
                    .reinterpretAsShorts();
            for (int c = 0; c < 4; c++) {
                ShortVector v = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 48 + 32 * c,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                // Shifts and masks on 16-bit lanes: each byte's bits stay within the byte (x86 has no byte shifts).
                ShortVector bits = fifth.lanewise(VectorOperators.LSHR, 2 * c);
                v.and((short) 0x0F0F).or(bits.and((short) 0x0101).lanewise(VectorOperators.LSHL, 4))
                        .reinterpretAsBytes().intoArray(out.q, 256 * b + 64 * c);
                v.lanewise(VectorOperators.LSHR, 4).and((short) 0x0F0F)
                        .or(bits.lanewise(VectorOperators.LSHL, 3).and((short) 0x1010))
                        .reinterpretAsBytes().intoArray(out.q, 256 * b + 64 * c + 32);
            }
        }
    }
}
