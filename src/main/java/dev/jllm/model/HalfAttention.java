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
        /** {@link #groupHeads}: the keys of one KV head of one sequence as floats, transposed: [i][position]. */
        float[] keysT = new float[0];
        /** Its values as floats: [position][i]. */
        float[] valueRows = new float[0];
        /** Positions keysT and valueRows have room for (keysT's row length). */
        int rowCapacity;
        /** Where in the cache the converted rows come from (-1: none), and how many are converted. */
        int rowsBase = -1;
        int rowsConverted;
        /** Lane partial sums of 16 positions' scores: [lane][position]. */
        final float[] partials = new float[LANES * LANES];

        /** Forgets the converted rows: call before the cache may have changed (a new batch or layer). */
        void forgetRows() {
            rowsBase = -1;
            rowsConverted = 0;
        }

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
        for (int t = 0; t <= pos; t++) {
            s.scores[t] = (vector ? vecDotVector(query, keys, base + t * kvDim, headDim, s)
                    : vecDot(query, keys, base + t * kvDim, headDim, s)) * scale;
        }
        softmaxWeights(pos, nKv, s);
        if (vector) {
            weightedSums(s.weights, values, base, kvDim, headDim, nKv, pos, s, out, outOffset);
            return;
        }
        for (int i = 0; i < headDim; i++) {
            out[outOffset + i] = vecWeightedSum(s.weights, values, base + i, kvDim, nKv, pos, s);
        }
    }

    /**
     * From the scores {@code s.scores[0..pos]}: the softmax weights {@code s.weights[0..nKv)}, rounded to FP16 (zero
     * past pos), the sum of the exponentials taken in 16-lane blocks as ggml takes it.
     */
    private static void softmaxWeights(int pos, int nKv, Scratch s) {
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t <= pos; t++) {
            max = Math.max(max, s.scores[t]);
        }
        double sum = 0;
        for (int c = 0; c < nKv; c += LANES) {
            float[] lanes = s.lanes;
            for (int i = 0; i < LANES; i++) {
                int t = c + i;
                lanes[i] = t <= pos ? s.scores[t] - max : 0f;
            }
            // 16 exponentials at once where GgmlMath's vector form applies (the same bits), else one by one
            boolean vector = GgmlMath.expf(lanes, 0, lanes, 0);
            for (int i = 0; i < LANES; i++) {
                int t = c + i;
                lanes[i] = t > pos ? 0f : vector ? lanes[i] : GgmlMath.expf(lanes[i]);
                s.scores[t] = lanes[i];
            }
            sum += horizontalSum(lanes);
        }
        float inverse = (float) (1.0 / sum);
        for (int t = 0; t < nKv; t++) {
            s.weights[t] = t <= pos ? Float.float16ToFloat(Float.floatToFloat16(s.scores[t] * inverse)) : 0f;
        }
    }

    /**
     * Heads {@code 0..count-1} of one token that share one KV head (a GQA group): the queries at
     * {@code q[qOffset + h * headDim]}, the outputs to {@code out[outOffset + h * headDim]}; each head's bits are those
     * of {@link #head}, whatever the batch.
     *
     * <p>Where the vector forms apply with whole 64-value blocks (headDim a multiple of 64), the keys and values of
     * positions {@code 0..pos} are converted to floats once (exact) and kept in the scratch for the next heads and
     * tokens of the same sequence and KV head (until {@link Scratch#forgetRows}), the keys transposed, so that the
     * scores of 16 positions are computed in the 16 lanes of a vector: each lane does the FMAs and additions that
     * {@link #vecDotVector} does for its position, in the same order. The value sums keep each of the 64 lane
     * accumulators of {@link #weightedSums} in registers while it runs over its positions, in the same order.
     */
    static void groupHeads(short[] keys, short[] values, int base, int kvDim, int headDim, int pos, int nKv,
            float[] q, int qOffset, int count, float scale, Scratch s, float[] out, int outOffset) {
        if (!VECTOR || headDim % 64 != 0) {
            for (int h = 0; h < count; h++) {
                head(keys, values, base, kvDim, headDim, pos, nKv, q, qOffset + h * headDim, scale, s, out,
                        outOffset + h * headDim);
            }
            return;
        }
        convertRows(keys, values, base, kvDim, headDim, pos + 1, s);
        float[] query = s.query;
        for (int h = 0; h < count; h++) {
            int qAt = qOffset + h * headDim;
            for (int i = 0; i < headDim; i++) {
                query[i] = Float.float16ToFloat(Float.floatToFloat16(q[qAt + i]));
            }
            for (int t0 = 0; t0 <= pos; t0 += LANES) {
                lanePartials(s.keysT, s.rowCapacity, t0, query, headDim, s.partials);
                laneTotals(s.partials, scale, s.scores, t0);
            }
            softmaxWeights(pos, nKv, s);
            int vectorEnd = nKv & ~63;
            int at = outOffset + h * headDim;
            if (vectorEnd > 0) {
                valueLanes(s.valueRows, headDim, Math.min(pos + 1, vectorEnd), s.weights, s.laneSums);
                combineLanes(s.laneSums, headDim, out, at);
            }
            for (int i = 0; i < headDim; i++) {
                double sum = vectorEnd > 0 ? out[at + i] : 0;
                for (int t = vectorEnd; t < nKv; t++) {
                    float v = t <= pos ? s.valueRows[t * headDim + i] : 0f;
                    sum += v * s.weights[t];
                }
                out[at + i] = (float) sum;
            }
        }
    }

    /** Converts positions up to {@code rows} of the KV head at {@code base} into the scratch (those not yet there). */
    private static void convertRows(short[] keys, short[] values, int base, int kvDim, int headDim, int rows,
            Scratch s) {
        int padded = (rows + LANES - 1) / LANES * LANES;
        if (s.rowsBase != base || padded > s.rowCapacity) {
            s.rowsConverted = 0;
            s.rowsBase = base;
        }
        if (padded > s.rowCapacity) {
            int maxRows = (s.contextLength + KV_PAD - 1) / KV_PAD * KV_PAD + LANES;
            s.rowCapacity = Math.min(maxRows, Math.max(padded, 2 * s.rowCapacity));
            s.keysT = new float[s.rowCapacity * headDim];
            s.valueRows = new float[s.rowCapacity * headDim];
        }
        int cap = s.rowCapacity;
        for (int t = s.rowsConverted; t < rows; t++) {
            int at = base + t * kvDim;
            for (int i = 0; i < headDim; i++) {
                s.keysT[i * cap + t] = Float.float16ToFloat(keys[at + i]);
                s.valueRows[t * headDim + i] = Float.float16ToFloat(values[at + i]);
            }
        }
        s.rowsConverted = Math.max(s.rowsConverted, rows);
    }

    /**
     * For positions {@code t0..t0+15}, lane j's part of each score (lane j of {@link #vecDotVector}'s
     * {@code (b0 + b2) + (b1 + b3)}) to {@code partials[j * 16 + position]}.
     */
    private static void lanePartials(float[] keysT, int cap, int t0, float[] query, int headDim, float[] partials) {
        FloatVector zero = FloatVector.zero(F);
        for (int j = 0; j < LANES; j++) {
            FloatVector b0 = zero, b1 = zero, b2 = zero, b3 = zero;
            for (int i = j; i < headDim; i += 64) {
                b0 = FloatVector.fromArray(F, keysT, i * cap + t0).fma(FloatVector.broadcast(F, query[i]), b0);
                b1 = FloatVector.fromArray(F, keysT, (i + 16) * cap + t0).fma(FloatVector.broadcast(F, query[i + 16]), b1);
                b2 = FloatVector.fromArray(F, keysT, (i + 32) * cap + t0).fma(FloatVector.broadcast(F, query[i + 32]), b2);
                b3 = FloatVector.fromArray(F, keysT, (i + 48) * cap + t0).fma(FloatVector.broadcast(F, query[i + 48]), b3);
            }
            b0.add(b2).add(b1.add(b3)).intoArray(partials, j * LANES);
        }
    }

    /**
     * The 16 lanes of each of 16 positions summed as {@link #horizontalSum} sums them ({@code p[l * 16 + position]}
     * lane l), times scale, to {@code scores[t0..t0+15]}.
     */
    private static void laneTotals(float[] p, float scale, float[] scores, int t0) {
        FloatVector a0 = FloatVector.fromArray(F, p, 0), a1 = FloatVector.fromArray(F, p, 16);
        FloatVector a2 = FloatVector.fromArray(F, p, 32), a3 = FloatVector.fromArray(F, p, 48);
        FloatVector a4 = FloatVector.fromArray(F, p, 64), a5 = FloatVector.fromArray(F, p, 80);
        FloatVector a6 = FloatVector.fromArray(F, p, 96), a7 = FloatVector.fromArray(F, p, 112);
        FloatVector a8 = FloatVector.fromArray(F, p, 128), a9 = FloatVector.fromArray(F, p, 144);
        FloatVector a10 = FloatVector.fromArray(F, p, 160), a11 = FloatVector.fromArray(F, p, 176);
        FloatVector a12 = FloatVector.fromArray(F, p, 192), a13 = FloatVector.fromArray(F, p, 208);
        FloatVector a14 = FloatVector.fromArray(F, p, 224), a15 = FloatVector.fromArray(F, p, 240);
        FloatVector t0v = a0.add(a8).add(a4.add(a12));
        FloatVector t1v = a1.add(a9).add(a5.add(a13));
        FloatVector t2v = a2.add(a10).add(a6.add(a14));
        FloatVector t3v = a3.add(a11).add(a7.add(a15));
        t0v.add(t2v).add(t1v.add(t3v)).mul(scale).intoArray(scores, t0);
    }

    /**
     * The 64 lane accumulators of {@link #weightedSums} over positions {@code [0, end)}: accumulator l, a row of
     * headDim sums at {@code acc[l * headDim]}, adds the positions t = l, l + 64, ... in order.
     */
    private static void valueLanes(float[] valueRows, int headDim, int end, float[] weights, float[] acc) {
        FloatVector zero = FloatVector.zero(F);
        for (int l = 0; l < 64; l++) {
            for (int i = 0; i < headDim; i += 64) {
                FloatVector a0 = zero, a1 = zero, a2 = zero, a3 = zero;
                for (int t = l; t < end; t += 64) {
                    FloatVector w = FloatVector.broadcast(F, weights[t]);
                    int at = t * headDim + i;
                    a0 = FloatVector.fromArray(F, valueRows, at).fma(w, a0);
                    a1 = FloatVector.fromArray(F, valueRows, at + 16).fma(w, a1);
                    a2 = FloatVector.fromArray(F, valueRows, at + 32).fma(w, a2);
                    a3 = FloatVector.fromArray(F, valueRows, at + 48).fma(w, a3);
                }
                int row = l * headDim + i;
                a0.intoArray(acc, row);
                a1.intoArray(acc, row + 16);
                a2.intoArray(acc, row + 32);
                a3.intoArray(acc, row + 48);
            }
        }
    }

    /** The 64 accumulators combined as {@link #weightedSums} combines them, to {@code out[at..at+headDim)}. */
    private static void combineLanes(float[] acc, int headDim, float[] out, int at) {
        for (int l = 0; l < LANES; l++) {
            for (int i = 0; i < headDim; i += LANES) {
                FloatVector.fromArray(F, acc, l * headDim + i).add(FloatVector.fromArray(F, acc, (32 + l) * headDim + i))
                        .add(FloatVector.fromArray(F, acc, (16 + l) * headDim + i)
                                .add(FloatVector.fromArray(F, acc, (48 + l) * headDim + i)))
                        .intoArray(acc, l * headDim + i);
            }
        }
        for (int j = 0; j < 4; j++) {
            for (int i = 0; i < headDim; i += LANES) {
                FloatVector.fromArray(F, acc, j * headDim + i).add(FloatVector.fromArray(F, acc, (j + 8) * headDim + i))
                        .add(FloatVector.fromArray(F, acc, (j + 4) * headDim + i)
                                .add(FloatVector.fromArray(F, acc, (j + 12) * headDim + i)))
                        .intoArray(acc, j * headDim + i);
            }
        }
        for (int i = 0; i < headDim; i += LANES) {
            FloatVector.fromArray(F, acc, i).add(FloatVector.fromArray(F, acc, 2 * headDim + i))
                    .add(FloatVector.fromArray(F, acc, headDim + i).add(FloatVector.fromArray(F, acc, 3 * headDim + i)))
                    .intoArray(out, at + i);
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
