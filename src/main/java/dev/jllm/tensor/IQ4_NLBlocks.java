package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;

/**
 * ggml's IQ4_NL: blocks of 32 values, each an fp16 scale d then 16 bytes of nibbles laid out as in Q4_0; a nibble
 * indexes the non-linear grid {@link BlockDecoder#IQ4_VALUES}; value = d * grid[q].
 */
final class IQ4_NLBlocks extends BlockDecoder {

    private static final ByteVector GRID = ByteVector.fromArray(BlockBits.B128, IQ4_VALUES, 0);

    IQ4_NLBlocks() {
        super(GgmlType.IQ4_NL, false, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            BlockBits.nibbles16(data, at + 2, GRID, out.q, 32 * b);
        }
    }
}
