package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q8_0, as {@code quantize_row_q8_0_ref}: per block of 32, {@code d = amax / 127} (amax the largest absolute
 * value), {@code q = round(x * (1/d))} rounding halves away from zero, stored as the FP16 of d then 32 signed bytes.
 * llama-quantize uses this same function for Q8_0, with or without an importance matrix.
 */
final class Q8_0Quantizer implements Quantizer {

    static final Q8_0Quantizer INSTANCE = new Q8_0Quantizer();

    private static final int BLOCK = 32;
    private static final int BLOCK_BYTES = 34;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Q8_0Quantizer() {
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        Quantizer.checkBlocks(GgmlType.Q8_0, src, srcOffset, count, dst, dstOffset);
        long out = dstOffset;
        for (int b = srcOffset; b < srcOffset + count; b += BLOCK, out += BLOCK_BYTES) {
            float amax = 0f;
            for (int j = 0; j < BLOCK; j++) {
                amax = Math.max(amax, Math.abs(src[b + j]));
            }
            float d = amax / 127;
            float id = d != 0f ? 1.0f / d : 0f;
            dst.set(SHORT_LE, out, Halfs.toF16(d));
            for (int j = 0; j < BLOCK; j++) {
                dst.set(ValueLayout.JAVA_BYTE, out + 2 + j, (byte) roundHalfAwayFromZero(src[b + j] * id));
            }
        }
        return out - dstOffset;
    }

    /**
     * C's {@code roundf}: halves away from zero (Math.round rounds -2.5 to -2, roundf to -3). A float plus or minus
     * 0.5 is exact in double, so truncating that sum rounds exactly (in float, 0.49999997f + 0.5f would round up to 1).
     */
    static int roundHalfAwayFromZero(float x) {
        return (int) ((double) x + Math.copySign(0.5, x));
    }
}
