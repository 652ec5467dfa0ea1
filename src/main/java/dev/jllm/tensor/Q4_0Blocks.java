package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * ggml's Q4_0: blocks of 32 values, each an fp16 scale d then 16 bytes of nibbles. Byte j holds element j in its
 * low nibble and element j + 16 in its high nibble; value = (q - 8) * d.
 */
final class Q4_0Blocks extends BlockDecoder {

    static final int BLOCK_BYTES = 18;

    Q4_0Blocks() {
        super(GgmlType.Q4_0, false, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * BLOCK_BYTES;
        for (int b = 0; b < blocks; b++, at += BLOCK_BYTES) {
            out.d[b] = BlockBits.f16(data, at);
            BlockBits.nibbles16(data, at + 2, 8, out.q, 32 * b);
        }
    }
}
