package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml's Q3_K ({@code block_q3_K}, 110 bytes per 256 values): 32 bytes of high bits (hmask), 64 bytes of low 2-bit
 * quants, 12 bytes holding sixteen 6-bit scales, fp16 d. Element 128n + 32j + l has its low bits in bits 2j..2j+1 of
 * quant byte 32n + l and its high bit in bit 4n + j of hmask byte l; q = low - 4 when that bit is clear, low
 * otherwise. The scales: low 4 bits in the nibbles of bytes 0..7 (scale g < 8 in the low nibble of byte g, scale
 * g + 8 in its high nibble), high 2 bits in bytes 8..11 (bits 2(g / 4) of byte 8 + g % 4), stored plus 32.
 * value = (d * (scale - 32)) * q.
 */
final class Q3_KBlocks extends BlockDecoder {

    Q3_KBlocks() {
        super(GgmlType.Q3_K, true, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at + 108);
            BlockBits.q3Scales(data, at + 96, out.scales, 16 * b);
            ShortVector hmask = ByteVector.fromMemorySegment(BlockBits.B256, data, at, ByteOrder.LITTLE_ENDIAN)
                    .reinterpretAsShorts();
            for (int n = 0; n < 2; n++) {
                ShortVector v = ByteVector.fromMemorySegment(BlockBits.B256, data, at + 32 + 32 * n,
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsShorts();
                for (int j = 0; j < 4; j++) {
                    // Shifts and masks on 16-bit lanes: bits stay within their byte (x86 has no byte shifts).
                    ShortVector highBit = hmask.lanewise(VectorOperators.LSHR, 4 * n + j).and((short) 0x0101)
                            .lanewise(VectorOperators.LSHL, 2);
                    v.lanewise(VectorOperators.LSHR, 2 * j).and((short) 0x0303).or(highBit).reinterpretAsBytes()
                            .sub((byte) 4).intoArray(out.q, 256 * b + 128 * n + 32 * j);
                }
            }
        }
    }
}
