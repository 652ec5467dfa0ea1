package dev.jllm.quant;

/** Float32 to the two 16-bit float formats, rounding as ggml does. */
public final class Halfs {

    private Halfs() {
    }

    /**
     * IEEE half precision, rounded to nearest even (as ggml's {@code GGML_FP32_TO_FP16}, in both its F16C and its
     * portable form): overflow gives infinity, tiny values become subnormal or zero.
     */
    public static short toF16(float value) {
        return Float.floatToFloat16(value);
    }

    /**
     * bfloat16 (the top 16 bits of a float32), rounded to nearest even as ggml's {@code ggml_compute_fp32_to_bf16}:
     * NaNs stay NaN (made quiet), everything else rounds, overflow giving infinity.
     */
    public static short toBF16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) {
            return (short) ((bits >>> 16) | 64);
        }
        return (short) ((bits + (0x7FFF + ((bits >>> 16) & 1))) >>> 16);
    }
}
