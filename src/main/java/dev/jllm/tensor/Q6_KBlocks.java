package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml's Q6_K ({@code block_q6_K}, 210 bytes per 256 values): 128 bytes of low nibbles, 64 bytes of high 2-bit
 * pairs, 16 int8 scales (one per 16 values), fp16 d. In half n (128 values), byte l of low run 0 (bytes 64n ..) holds
 * elements 128n + l (low nibble) and 128n + 64 + l (high nibble), low run 1 (bytes 64n + 32 ..) elements 128n + 32 + l
 * and 128n + 96 + l; high byte 128 + 32n + l holds their two high bits in bits 0-1, 2-3, 4-5 and 6-7 (for elements
 * + 0, + 32, + 64, + 96). q = the 6-bit value - 32; value = (d * scale) * q.
 */
final class Q6_KBlocks extends BlockDecoder {

    Q6_KBlocks() {
        super(GgmlType.Q6_K, true, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at + 208);
            BlockBits.signedBytes16(data, at + 192, out.scales, 16 * b);
            for (int n = 0; n < 2; n++) {
                ShortVector low0 = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 64 * n,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                ShortVector low1 = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 64 * n + 32,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                ShortVector high = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 128 + 32 * n,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                int base = 256 * b + 128 * n;
                // Shifts and masks on 16-bit lanes: each byte's bits stay within the byte (x86 has no byte shifts).
                low0.and(LOW_NIBBLES).or(high.and(TWO_BITS).lanewise(VectorOperators.LSHL, 4)).reinterpretAsBytes()
                        .sub((byte) 32).intoArray(out.q, base);
                low1.and(LOW_NIBBLES).or(high.lanewise(VectorOperators.LSHL, 2).and(TWO_BITS_AT_4))
                        .reinterpretAsBytes().sub((byte) 32).intoArray(out.q, base + 32);
                low0.lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLES).or(high.and(TWO_BITS_AT_4))
                        .reinterpretAsBytes().sub((byte) 32).intoArray(out.q, base + 64);
                low1.lanewise(VectorOperators.LSHR, 4).and(LOW_NIBBLES)
                        .or(high.lanewise(VectorOperators.LSHR, 2).and(TWO_BITS_AT_4)).reinterpretAsBytes()
                        .sub((byte) 32).intoArray(out.q, base + 96);
            }
        }
    }

    private static final short LOW_NIBBLES = 0x0F0F;
    private static final short TWO_BITS = 0x0303;
    private static final short TWO_BITS_AT_4 = 0x3030;
}
