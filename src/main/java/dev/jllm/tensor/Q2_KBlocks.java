package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml's Q2_K ({@code block_q2_K}, 84 bytes per 256 values): 16 bytes of scales (low nibble the scale, high nibble
 * the minimum of each 16 values), 64 bytes of 2-bit quants, fp16 d, fp16 dmin. Quant bytes come in two halves of 32;
 * bits 2j..2j+1 of byte l of half n hold element 128n + 32j + l. value = (d * scale) * q - dmin * min.
 */
final class Q2_KBlocks extends BlockDecoder {

    Q2_KBlocks() {
        super(GgmlType.Q2_K, true, Minimum.SCALED);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at + 80);
            out.dmin[b] = BlockBits.f16(data, at + 82);
            BlockBits.nibblePairs16(data, at, out.scales, out.mins, 16 * b);
            for (int n = 0; n < 2; n++) {
                ShortVector v = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 16 + 32 * n,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                for (int j = 0; j < 4; j++) {
                    // On 16-bit lanes with a mask: x86 has no byte shifts.
                    v.lanewise(VectorOperators.LSHR, 2 * j).and((short) 0x0303).reinterpretAsBytes()
                            .intoArray(out.q, 256 * b + 128 * n + 32 * j);
                }
            }
        }
    }
}
