package dev.jllm.tensor;

/**
 * What a kernel wants the activation vector converted to before its dot product: ggml's {@code vec_dot_type} of the
 * weight type. llama.cpp converts the float activations once per matrix product, so the logits it prints depend on
 * this rounding; jllm does the same to match them.
 */
public enum ActivationFormat {
    /** Floats as they are. */
    F32(1),
    /** Each value rounded to IEEE half precision (round to nearest even), kept as a float. */
    F16(1),
    /** Each value rounded to bfloat16 (round to nearest even, NaN made quiet), kept as a float. */
    BF16(1),
    /** Blocks of 32 int8 values with one fp16 scale d each: value = q * d. */
    Q8_0(32),
    /** As {@link #Q8_0}, plus per block s = d * sum(q) rounded to fp16 (for weight types with a minimum m). */
    Q8_1(32),
    /**
     * ggml's {@code block_q8_K}, what the K-quants multiply with: blocks of 256 int8 values with one float scale d
     * (value = q * d) and the sum of each 16 values, so that a weight type's per-sub-block minimums cost one small
     * dot product per block.
     */
    Q8_K(256);

    /** Values per block of {@link #Q8_0} and {@link #Q8_1}. */
    public static final int BLOCK = 32;

    private final int blockSize;

    ActivationFormat(int blockSize) {
        this.blockSize = blockSize;
    }

    public boolean quantized() {
        return blockSize > 1;
    }

    /** Values per scale: 32 (Q8_0, Q8_1), 256 (Q8_K), 1 for the float formats. */
    public int blockSize() {
        return blockSize;
    }
}
