package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q4_0, as {@code quantize_row_q4_0_ref}: per block of 32, take the element of largest magnitude with its sign
 * ({@code max}, the first one on ties), {@code d = max / -8}, {@code q = min(15, (int8) (x * (1/d) + 8.5))}
 * (truncating), stored as the FP16 of d then 16 bytes: element j in the low nibble of byte j, element j + 16 in its
 * high nibble. So max itself maps to q = 0 (value -8d = max) and the other end is clipped at 15 (7d). This is what
 * llama-quantize writes for Q4_0 without an importance matrix.
 */
final class Q4_0Quantizer implements Quantizer {

    static final Q4_0Quantizer INSTANCE = new Q4_0Quantizer();

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 18;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Q4_0Quantizer() {
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        Quantizer.checkBlocks(GgmlType.Q4_0, src, srcOffset, count, dst, dstOffset);
        long out = dstOffset;
        for (int b = srcOffset; b < srcOffset + count; b += BLOCK, out += BLOCK_BYTES) {
            float d = signedMax(src, b, BLOCK) / -8;
            float id = d != 0f ? 1.0f / d : 0f;
            dst.set(SHORT_LE, out, Halfs.toF16(d));
            for (int j = 0; j < BLOCK / 2; j++) {
                int low = nibble(src[b + j] * id);
                int high = nibble(src[b + BLOCK / 2 + j] * id);
                dst.set(ValueLayout.JAVA_BYTE, out + 2 + j, (byte) (low | high << 4));
            }
        }
        return out - dstOffset;
    }

    /** The value of largest magnitude among {@code x[from .. from + n)}, with its sign (the first one on ties). */
    static float signedMax(float[] x, int from, int n) {
        float amax = 0f;
        float max = 0f;
        for (int j = from; j < from + n; j++) {
            if (amax < Math.abs(x[j])) {
                amax = Math.abs(x[j]);
                max = x[j];
            }
        }
        return max;
    }

    /** {@code MIN(15, (int8_t)(x + 8.5f))}: x lies in [-8, 8], so the sum in [0.5, 16.5] truncates to 0..16. */
    private static int nibble(float x) {
        return Math.min(15, (byte) (int) (x + 8.5f));
    }
}
