package dev.jllm.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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
        final int headDim;
        final int contextLength;
        /** The 64 lane accumulators of {@link #weightedSums}, each a row of headDim sums. */
        final float[] laneSums;
        final float[] lanes4 = new float[4 * LANES];

        Scratch(int headDim, int contextLength) {
            this.headDim = headDim;
            this.contextLength = contextLength;
            laneSums = new float[64 * headDim];
            query = new float[headDim];
            int padded = (contextLength + KV_PAD - 1) / KV_PAD * KV_PAD;
            scores = new float[padded];
            weights = new float[padded];
        }
    }

    private HalfAttention() {
    }

    private static final ThreadLocal<Scratch> SCRATCH = new ThreadLocal<>();

    /** This thread's scratch for heads of {@code headDim} over a cache of {@code contextLength}, reused across calls. */
    static Scratch scratch(int headDim, int contextLength) {
        Scratch s = SCRATCH.get();
        if (s == null || s.headDim != headDim || s.contextLength != contextLength) {
            s = new Scratch(headDim, contextLength);
            SCRATCH.set(s);
        }
        return s;
    }

    /**
     * Positions attended over by a token at {@code pos}: padded as ggml pads a single-token step, at most the cache.
     * Taken per token (ggml takes it from the batch's last position), so that a token's result, whose summation order
     * depends on it, never depends on the rest of its batch.
     */
    static int attendedPositions(int pos, int contextLength) {
        return Math.min(contextLength, Math.max(KV_PAD, (pos + KV_PAD) / KV_PAD * KV_PAD));
    }

    /**
     * One head of one token: {@code out[0..headDim) = softmax(q·K / sqrt(headDim)) · V} over positions
     * {@code 0..pos} of the cached keys/values at {@code base} (stride {@code kvDim}).
     */
    static void head(short[] keys, short[] values, int base, int kvDim, int headDim, int pos, int nKv, float[] q,
            int qOffset, float scale, Scratch s, float[] out, int outOffset) {
        head(keys, values, base, kvDim, headDim, pos, nKv, q, qOffset, scale, s, out, outOffset,
                VECTOR && headDim % LANES == 0);
    }

    /** As above, with the vector forms ({@code vector}, which needs headDim a multiple of 16) or the scalar ones. */
    static void head(short[] keys, short[] values, int base, int kvDim, int headDim, int pos, int nKv, float[] q,
            int qOffset, float scale, Scratch s, float[] out, int outOffset, boolean vector) {
        float[] query = s.query;
        for (int i = 0; i < headDim; i++) {
            query[i] = Float.float16ToFloat(Float.floatToFloat16(q[qOffset + i]));
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t <= pos; t++) {
            s.scores[t] = (vector ? vecDotVector(query, keys, base + t * kvDim, headDim, s)
                    : vecDot(query, keys, base + t * kvDim, headDim, s)) * scale;
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
        if (vector) {
            weightedSums(s.weights, values, base, kvDim, headDim, nKv, pos, s, out, outOffset);
            return;
        }
        for (int i = 0; i < headDim; i++) {
            out[outOffset + i] = vecWeightedSum(s.weights, values, base + i, kvDim, nKv, pos, s);
        }
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    /** The vector forms below need 16-lane float vectors (AVX-512); they add exactly as the scalar forms. */
    private static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.length() >= LANES
            && !Boolean.getBoolean("jllm.scalarAttention");

    /** 16 half-precision values at {@code halves[offset..]} as floats (exact). */
    private static FloatVector halves(short[] halves, int offset) {
        IntVector half = (IntVector) ShortVector.fromArray(S, halves, offset).convertShape(VectorOperators.S2I, I, 0);
        IntVector magnitude = half.and(0x7FFF);
        IntVector sign = half.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        FloatVector scaled = magnitude.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
        IntVector special = magnitude.add(0x400).lanewise(VectorOperators.LSHR, 15).neg().and(112 << 23);
        return scaled.reinterpretAsInts().add(special).or(sign).reinterpretAsFloats();
    }

    /** {@link #vecDot} with the four 16-lane accumulators as vectors: the same FMAs per lane, the same sums. */
    private static float vecDotVector(float[] query, short[] keys, int offset, int n, Scratch s) {
        int vectorEnd = n & ~63;
        double tail = 0;
        if (vectorEnd > 0) {
            FloatVector b0 = FloatVector.zero(F);
            FloatVector b1 = FloatVector.zero(F);
            FloatVector b2 = FloatVector.zero(F);
            FloatVector b3 = FloatVector.zero(F);
            for (int i = 0; i < vectorEnd; i += 64) {
                b0 = halves(keys, offset + i).fma(FloatVector.fromArray(F, query, i), b0);
                b1 = halves(keys, offset + i + 16).fma(FloatVector.fromArray(F, query, i + 16), b1);
                b2 = halves(keys, offset + i + 32).fma(FloatVector.fromArray(F, query, i + 32), b2);
                b3 = halves(keys, offset + i + 48).fma(FloatVector.fromArray(F, query, i + 48), b3);
            }
            b0.add(b2).add(b1.add(b3)).intoArray(s.lanes, 0);
            tail = horizontalSum(s.lanes);
        }
        for (int i = vectorEnd; i < n; i++) {
            tail += query[i] * Float.float16ToFloat(keys[offset + i]);
        }
        return (float) tail;
    }

    /**
     * {@link #vecWeightedSum} for every i of the head at once: lane accumulator l (of the 64 that
     * {@link #blockSum} keeps, l = t % 64) is a row of headDim sums, so each position adds a contiguous row of values.
     * Per output i the FMAs, the lane combination and the tail are those of the scalar form.
     */
    private static void weightedSums(float[] weights, short[] values, int base, int stride, int headDim, int nKv,
            int pos, Scratch s, float[] out, int outOffset) {
        int vectorEnd = nKv & ~63;
        float[] acc = s.laneSums;
        if (vectorEnd > 0) {
            java.util.Arrays.fill(acc, 0, 64 * headDim, 0f);
            FloatVector zero = FloatVector.zero(F);
            for (int t = 0; t < vectorEnd; t++) {
                int row = (t & 63) * headDim;
                FloatVector w = FloatVector.broadcast(F, weights[t]);
                int at = base + t * stride;
                for (int i = 0; i < headDim; i += LANES) {
                    FloatVector h = t <= pos ? halves(values, at + i) : zero;
                    h.fma(w, FloatVector.fromArray(F, acc, row + i)).intoArray(acc, row + i);
                }
            }
            for (int i = 0; i < headDim; i += LANES) {
                // lanes[l] = (block0[l] + block2[l]) + (block1[l] + block3[l]), block k holding accumulators 16k..16k+15
                FloatVector l0 = lane(acc, 0, headDim, i), l1 = lane(acc, 1, headDim, i);
                FloatVector l2 = lane(acc, 2, headDim, i), l3 = lane(acc, 3, headDim, i);
                FloatVector l4 = lane(acc, 4, headDim, i), l5 = lane(acc, 5, headDim, i);
                FloatVector l6 = lane(acc, 6, headDim, i), l7 = lane(acc, 7, headDim, i);
                FloatVector l8 = lane(acc, 8, headDim, i), l9 = lane(acc, 9, headDim, i);
                FloatVector l10 = lane(acc, 10, headDim, i), l11 = lane(acc, 11, headDim, i);
                FloatVector l12 = lane(acc, 12, headDim, i), l13 = lane(acc, 13, headDim, i);
                FloatVector l14 = lane(acc, 14, headDim, i), l15 = lane(acc, 15, headDim, i);
                FloatVector t0 = l0.add(l8).add(l4.add(l12));
                FloatVector t1 = l1.add(l9).add(l5.add(l13));
                FloatVector t2 = l2.add(l10).add(l6.add(l14));
                FloatVector t3 = l3.add(l11).add(l7.add(l15));
                t0.add(t2).add(t1.add(t3)).intoArray(out, outOffset + i);
            }
        } else {
            java.util.Arrays.fill(out, outOffset, outOffset + headDim, 0f);
        }
        if (vectorEnd < nKv) {
            for (int i = 0; i < headDim; i++) {
                double sum = vectorEnd > 0 ? out[outOffset + i] : 0;
                for (int t = vectorEnd; t < nKv; t++) {
                    float v = t <= pos ? Float.float16ToFloat(values[base + i + t * stride]) : 0f;
                    sum += v * weights[t];
                }
                out[outOffset + i] = (float) sum;
            }
        }
    }

    /** Lane l of the combined blocks for outputs i..i+15: (acc[l] + acc[32 + l]) + (acc[16 + l] + acc[48 + l]). */
    private static FloatVector lane(float[] acc, int l, int headDim, int i) {
        return FloatVector.fromArray(F, acc, l * headDim + i).add(FloatVector.fromArray(F, acc, (32 + l) * headDim + i))
                .add(FloatVector.fromArray(F, acc, (16 + l) * headDim + i)
                        .add(FloatVector.fromArray(F, acc, (48 + l) * headDim + i)));
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
