package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** ggml's Q8_0: blocks of 32 values, each an fp16 scale d then 32 int8 q; value = q * d. */
final class Q8_0Blocks extends BlockDecoder {

    static final int BLOCK_BYTES = 34;

    Q8_0Blocks() {
        super(GgmlType.Q8_0, false, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * BLOCK_BYTES;
        for (int b = 0; b < blocks; b++, at += BLOCK_BYTES) {
            out.d[b] = BlockBits.f16(data, at);
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, at + 2, out.q, 32 * b, 32);
        }
    }
}
