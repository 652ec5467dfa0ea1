package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * ggml's Q5_0: blocks of 32 values, each an fp16 scale d, a 32-bit word qh whose bit j is the fifth (high) bit of
 * element j, then 16 bytes of low nibbles laid out as in Q4_0; value = ((low | high << 4) - 16) * d.
 */
final class Q5_0Blocks extends BlockDecoder {

    Q5_0Blocks() {
        super(GgmlType.Q5_0, false, Minimum.NONE);
    }

    @Override
    void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out) {
        long at = firstBlock * blockBytes;
        for (int b = 0; b < blocks; b++, at += blockBytes) {
            out.d[b] = BlockBits.f16(data, at);
            BlockBits.fiveBits32(data, at + 6, data.get(KernelVectors.INT_LE, at + 2), 0x1010101010101010L, out.q,
                    32 * b);
        }
    }
}
