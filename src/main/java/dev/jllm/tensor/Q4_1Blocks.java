package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * ggml's Q4_1: blocks of 32 values, each an fp16 scale d, an fp16 minimum m, then 16 bytes of nibbles laid out as
 * in Q4_0 (low nibbles elements 0..15, high nibbles 16..31); value = q * d + m.
 */
final class Q4_1Blocks extends BlockDecoder {

    Q4_1Blocks() {
        super(GgmlType.Q4_1, false, Minimum.ADDED);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            out.dmin[b] = BlockBits.f16(data, at + 2);
            BlockBits.nibbles16(data, at + 4, 0, out.q, 32 * b);
        }
    }
}
