package dev.jllm.tensor;

/**
 * What a kernel wants the activation vector converted to before its dot product: ggml's {@code vec_dot_type} of the
 * weight type. llama.cpp converts the float activations once per matrix product, so the logits it prints depend on
 * this rounding; jllm does the same to match them.
 */
public enum ActivationFormat {
    /** Floats as they are. */
    F32,
    /** Each value rounded to IEEE half precision (round to nearest even), kept as a float. */
    F16,
    /** Each value rounded to bfloat16 (round to nearest even, NaN made quiet), kept as a float. */
    BF16,
    /** Blocks of 32 int8 values with one fp16 scale d each: value = q * d. */
    Q8_0,
    /** As {@link #Q8_0}, plus per block s = d * sum(q) rounded to fp16 (for weight types with a minimum m). */
    Q8_1;

    /** Values per block of the quantized formats. */
    public static final int BLOCK = 32;

    public boolean quantized() {
        return this == Q8_0 || this == Q8_1;
    }
}
