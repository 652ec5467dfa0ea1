package dev.jllm.tensor;

/**
 * The arrays a kernel may read besides the quantized activations themselves. A quantized {@link PreparedActivations}
 * always holds the int8 values, the block scales and the format's sums ({@code sums} of Q8_1, the per-16 sums of
 * Q8_K); each layout here is a further copy in the order one kernel's inner loop wants, and costs a pass over the
 * activations to build. A kernel names the layouts it reads ({@link Kernel#activationLayouts}) and {@link MatMul}
 * prepares only those; reading one that was not prepared is an error, not stale data.
 */
public enum ActivationLayout {
    /** Q8_0 / Q8_1: the sum of each block's int8 values, as a float; see {@link PreparedActivations#blockSums()}. */
    BLOCK_SUMS,
    /**
     * Q8_0, one vector, row length a multiple of 64: the values paired as Q4_0's nibbles multiply them, for the
     * 16-row Q4_0 decoding; see {@link PreparedActivations#nibblePairs()}.
     */
    NIBBLE_PAIRS,
    /** Any quantized format: the int8 values widened to shorts, in order; see {@link PreparedActivations#shorts()}. */
    SHORTS,
    /**
     * Any quantized format, two vectors or more: the values as floats transposed so that 16 vectors are the lanes,
     * with their scales (and Q8_K's per-16 sums) in the same order; see {@link PreparedActivations#tokenGroups()}.
     */
    TOKEN_GROUPS;

    final int bit() {
        return 1 << ordinal();
    }
}
