package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * ggml's Q5_1: blocks of 32 values, each an fp16 scale d, an fp16 minimum m, the fifth bits qh (bit j for element
 * j), then 16 bytes of low nibbles laid out as in Q4_0; value = (low | high << 4) * d + m.
 */
final class Q5_1Blocks extends BlockDecoder {

    Q5_1Blocks() {
        super(GgmlType.Q5_1, false, Minimum.ADDED);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            out.dmin[b] = BlockBits.f16(data, at + 2);
            BlockBits.fiveBits32(data, at + 8, data.get(KernelVectors.INT_LE, at + 4), 0L, out.q, 32 * b);
        }
    }
}
