package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q5_0, as {@code quantize_row_q5_0_ref}: per block of 32 the value of largest magnitude (the first on ties),
 * d = max / -16, q = min(31, (int8) (x / d + 16.5)); stored as fp16 d, the fifth bits (bit j for element j), then
 * the low nibbles as in Q4_0. llama-quantize writes it for a Q4_K matrix whose rows are not whole 256-value blocks.
 */
final class Q5_0Quantizer implements Quantizer {

    static final Q5_0Quantizer INSTANCE = new Q5_0Quantizer();

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 22;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Q5_0Quantizer() {
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q5_0;
    }

    @Override
    public long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        Quantizer.checkBlocks(GgmlType.Q5_0, src, srcOffset, count, dst, dstOffset);
        long out = dstOffset;
        for (int b = srcOffset; b < srcOffset + count; b += BLOCK, out += BLOCK_BYTES) {
            float d = Q4_0Quantizer.signedMax(src, b, BLOCK) / -16;
            float id = d != 0f ? 1.0f / d : 0f;
            dst.set(SHORT_LE, out, Halfs.toF16(d));
            int qh = 0;
            for (int j = 0; j < BLOCK / 2; j++) {
                int low = fiveBits(src[b + j] * id);
                int high = fiveBits(src[b + BLOCK / 2 + j] * id);
                dst.set(ValueLayout.JAVA_BYTE, out + 6 + j, (byte) ((low & 0x0F) | (high & 0x0F) << 4));
                qh |= (low >> 4) << j;
                qh |= (high >> 4) << (j + BLOCK / 2);
            }
            dst.set(INT_LE, out + 2, qh);
        }
        return out - dstOffset;
    }

    /** {@code MIN(31, (int8_t)(x + 16.5f))}: x lies in [-16, 16], so the sum in [0.5, 32.5] truncates to 0..32. */
    private static int fiveBits(float x) {
        return Math.min(31, (byte) (int) (x + 16.5f));
    }
}
