package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;

/**
 * ggml's IQ4_XS ({@code block_iq4_xs}, 136 bytes per 256 values): fp16 d, a 16-bit word of high scale bits, 4 bytes
 * of low scale bits, then 128 bytes of nibbles, 16 per group of 32 values laid out as in IQ4_NL (element j of the
 * group in the low nibble of byte j, element j + 16 in its high nibble). The 6-bit scale of group g: low 4 bits in
 * nibble g % 2 of byte g / 2, high 2 bits at bit 2g of the word, stored plus 32. value = (d * (scale - 32)) *
 * grid[q], the grid of {@link BlockDecoder#IQ4_VALUES}.
 */
final class IQ4_XSBlocks extends BlockDecoder {

    private static final ByteVector GRID = ByteVector.fromArray(BlockBits.B128, IQ4_VALUES, 0);

    IQ4_XSBlocks() {
        super(GgmlType.IQ4_XS, true, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            int high = data.get(KernelVectors.SHORT_LE, at + 2) & 0xFFFF;
            for (int g = 0; g < 8; g++) {
                int low = BlockBits.byteAt(data, at + 4 + g / 2) >>> (4 * (g % 2)) & 0xF;
                short scale = (short) ((low | ((high >>> (2 * g)) & 3) << 4) - 32);
                out.scales[16 * b + 2 * g] = out.scales[16 * b + 2 * g + 1] = scale;
                BlockBits.nibbles16(data, at + 8 + 16 * g, GRID, out.q, 256 * b + 32 * g);
            }
        }
    }
}
