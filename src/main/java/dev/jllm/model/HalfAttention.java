package dev.jllm.model;

/**
 * Attention over an FP16 KV cache, computed as llama.cpp's CPU backend computes it (no flash attention): the query
 * and the softmax weights are rounded to FP16 for their products with cached keys and values, the cache is read in
 * blocks of 32 positions (later positions masked), and every sum is taken in ggml's order: 16 float lanes reduced
 * as a horizontal add, or a double sum where ggml's scalar tail does that.
 *
 * <p>Why the order matters: keys and values are rounded to FP16, and a last-bit difference in a float sum sometimes
 * rounds to another FP16 number; each such flip stays in the cache and moves every later logit. Summing as the
 * reference does keeps teacher-forced runs close to it over hundreds of steps. The order is that of ggml's
 * single-token (vector-dot) kernels for every batch, so that batched and token-by-token prompts give the same bits
 * (ggml's batched kernels add in another order).
 */
final class HalfAttention {

    /** ggml pads the number of cache positions it attends over to a multiple of this. */
    static final int KV_PAD = 32;
    private static final int LANES = 16;

    /** Per-thread scratch, sized for the cache. */
    static final class Scratch {
        final float[] query;
        final float[] scores;
        final float[] weights;
        final float[] lanes = new float[LANES];
        final float[][] blocks = new float[4][LANES];

        Scratch(int headDim, int contextLength) {
            query = new float[headDim];
            int padded = (contextLength + KV_PAD - 1) / KV_PAD * KV_PAD;
            scores = new float[padded];
            weights = new float[padded];
        }
    }

    private HalfAttention() {
    }

    /** Positions attended over when the batch's last position is {@code maxPos}: padded, at most the cache. */
    static int attendedPositions(int maxPos, int contextLength) {
        return Math.min(contextLength, Math.max(KV_PAD, (maxPos + KV_PAD) / KV_PAD * KV_PAD));
    }

    /**
     * One head of one token: {@code out[0..headDim) = softmax(q·K / sqrt(headDim)) · V} over positions
     * {@code 0..pos} of the cached keys/values at {@code base} (stride {@code kvDim}).
     */
    static void head(short[] keys, short[] values, int base, int kvDim, int headDim, int pos, int nKv, float[] q,
            int qOffset, float scale, Scratch s, float[] out, int outOffset) {
        float[] query = s.query;
        for (int i = 0; i < headDim; i++) {
            query[i] = Float.float16ToFloat(Float.floatToFloat16(q[qOffset + i]));
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t <= pos; t++) {
            s.scores[t] = vecDot(query, keys, base + t * kvDim, headDim, s) * scale;
            max = Math.max(max, s.scores[t]);
        }
        double sum = 0;
        for (int c = 0; c < nKv; c += LANES) {
            float[] lanes = s.lanes;
            for (int i = 0; i < LANES; i++) {
                int t = c + i;
                lanes[i] = t <= pos ? GgmlMath.expf(s.scores[t] - max) : 0f;
                s.scores[t] = lanes[i];
            }
            sum += horizontalSum(lanes);
        }
        float inverse = (float) (1.0 / sum);
        for (int t = 0; t < nKv; t++) {
            s.weights[t] = t <= pos ? Float.float16ToFloat(Float.floatToFloat16(s.scores[t] * inverse)) : 0f;
        }
        for (int i = 0; i < headDim; i++) {
            out[outOffset + i] = vecWeightedSum(s.weights, values, base + i, kvDim, nKv, pos, s);
        }
    }

    /** ggml's FP16 vector dot: four 16-lane accumulators over 64-value steps, then the tail summed in double. */
    private static float vecDot(float[] query, short[] keys, int offset, int n, Scratch s) {
        int vectorEnd = n & ~63;
        double tail = vectorEnd > 0 ? blockSum(query, keys, offset, 1, vectorEnd, Integer.MAX_VALUE, s) : 0;
        for (int i = vectorEnd; i < n; i++) {
            tail += query[i] * Float.float16ToFloat(keys[offset + i]);
        }
        return (float) tail;
    }

    private static float vecWeightedSum(float[] weights, short[] values, int offset, int stride, int nKv, int pos,
            Scratch s) {
        int vectorEnd = nKv & ~63;
        double sum = vectorEnd > 0 ? blockSum(weights, values, offset, stride, vectorEnd, pos, s) : 0;
        for (int t = vectorEnd; t < nKv; t++) {
            float v = t <= pos ? Float.float16ToFloat(values[offset + t * stride]) : 0f;
            sum += v * weights[t];
        }
        return (float) sum;
    }

    /**
     * {@code Σ a[i] · half(halves[offset + i·stride])} over {@code [0, end)} (a multiple of 64; entries past {@code pos}
     * count as zero) in four 16-lane accumulators, combined as ggml reduces them.
     */
    private static float blockSum(float[] a, short[] halves, int offset, int stride, int end, int pos, Scratch s) {
        for (float[] block : s.blocks) {
            java.util.Arrays.fill(block, 0f);
        }
        for (int i = 0; i < end; i++) {
            float h = i <= pos ? Float.float16ToFloat(halves[offset + i * stride]) : 0f;
            float[] block = s.blocks[(i % 64) / LANES];
            block[i % LANES] = Math.fma(h, a[i], block[i % LANES]);
        }
        return combineBlocks(s);
    }

    private static float combineBlocks(Scratch s) {
        float[] lanes = s.lanes;
        float[][] b = s.blocks;
        for (int i = 0; i < LANES; i++) {
            lanes[i] = (b[0][i] + b[2][i]) + (b[1][i] + b[3][i]);
        }
        return horizontalSum(lanes);
    }

    /** The sum of 16 lanes as an AVX-512 horizontal add: halves, then quarters, pairs, and the last two. */
    static float horizontalSum(float[] a) {
        float t0 = (a[0] + a[8]) + (a[4] + a[12]);
        float t1 = (a[1] + a[9]) + (a[5] + a[13]);
        float t2 = (a[2] + a[10]) + (a[6] + a[14]);
        float t3 = (a[3] + a[11]) + (a[7] + a[15]);
        return (t0 + t2) + (t1 + t3);
    }
}
