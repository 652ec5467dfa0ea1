package dev.jllm.tensor;

import static dev.jllm.tensor.KernelVectors.FLOATS;
import static dev.jllm.tensor.KernelVectors.FLOAT_LANES;
import static dev.jllm.tensor.KernelVectors.FLOAT_LE;
import static dev.jllm.tensor.KernelVectors.SHORT_LE;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * F32 and F16 dot products summed as {@code ggml_vec_dot_f32} / {@code ggml_vec_dot_f16} sum them with this CPU's
 * vector width (16 lanes with AVX-512, 8 with AVX2), so that the matrix products round as llama.cpp's on the same kind
 * of machine: four accumulators of one vector each over steps of four vectors, by FMA; then
 * {@code GGML_F32_VEC_REDUCE}: (acc0 + acc2) + (acc1 + acc3) lane by lane, and the lanes summed as GCC's
 * {@code _mm512_reduce_add_ps} (or AVX's pair of {@code _mm_hadd_ps}) does; then the values past the last whole step,
 * one by one, in float for F32 and in double for F16 (whose sum ggml keeps as {@code ggml_float}). For two or more
 * vectors ggml goes through llamafile's tinyBLAS instead (one accumulator, then its hsum); jllm keeps one order for
 * every batch (see {@link F32Kernel#dotPrepared}).
 */
final class FloatDotOrder {

    private FloatDotOrder() {
    }

    /** {@code ggml_vec_dot_f32} ({@code half} false) or {@code ggml_vec_dot_f16} ({@code half} true). */
    static float vecDot(MemorySegment data, long first, int count, float[] x, int xOffset, boolean half) {
        int step = 4 * FLOAT_LANES;
        int whole = count / step * step;
        FloatVector acc0 = FloatVector.zero(FLOATS);
        FloatVector acc1 = FloatVector.zero(FLOATS);
        FloatVector acc2 = FloatVector.zero(FLOATS);
        FloatVector acc3 = FloatVector.zero(FLOATS);
        for (int i = 0; i < whole; i += step) {
            acc0 = load(data, first + i, half).fma(FloatVector.fromArray(FLOATS, x, xOffset + i), acc0);
            acc1 = load(data, first + i + FLOAT_LANES, half)
                    .fma(FloatVector.fromArray(FLOATS, x, xOffset + i + FLOAT_LANES), acc1);
            acc2 = load(data, first + i + 2 * FLOAT_LANES, half)
                    .fma(FloatVector.fromArray(FLOATS, x, xOffset + i + 2 * FLOAT_LANES), acc2);
            acc3 = load(data, first + i + 3 * FLOAT_LANES, half)
                    .fma(FloatVector.fromArray(FLOATS, x, xOffset + i + 3 * FLOAT_LANES), acc3);
        }
        float reduced = reduceVecDot(acc0.add(acc2).add(acc1.add(acc3)));
        if (half) {
            double sum = reduced;
            for (int i = whole; i < count; i++) {
                sum += Float.float16ToFloat(data.get(SHORT_LE, (first + i) * 2)) * x[xOffset + i];
            }
            return (float) sum;
        }
        float sum = reduced;
        for (int i = whole; i < count; i++) {
            sum += data.get(FLOAT_LE, (first + i) * 4) * x[xOffset + i];
        }
        return sum;
    }

    /**
     * {@link #vecDot} over weights already widened to floats ({@code w[wOffset ..]}, exact for F16 and BF16): the same
     * accumulators, reduction and tail, so the same float.
     */
    static float vecDotFloats(float[] w, int wOffset, int count, float[] x, int xOffset, boolean half) {
        int step = 4 * FLOAT_LANES;
        int whole = count / step * step;
        FloatVector acc0 = FloatVector.zero(FLOATS);
        FloatVector acc1 = FloatVector.zero(FLOATS);
        FloatVector acc2 = FloatVector.zero(FLOATS);
        FloatVector acc3 = FloatVector.zero(FLOATS);
        for (int i = 0; i < whole; i += step) {
            acc0 = FloatVector.fromArray(FLOATS, w, wOffset + i).fma(FloatVector.fromArray(FLOATS, x, xOffset + i), acc0);
            acc1 = FloatVector.fromArray(FLOATS, w, wOffset + i + FLOAT_LANES)
                    .fma(FloatVector.fromArray(FLOATS, x, xOffset + i + FLOAT_LANES), acc1);
            acc2 = FloatVector.fromArray(FLOATS, w, wOffset + i + 2 * FLOAT_LANES)
                    .fma(FloatVector.fromArray(FLOATS, x, xOffset + i + 2 * FLOAT_LANES), acc2);
            acc3 = FloatVector.fromArray(FLOATS, w, wOffset + i + 3 * FLOAT_LANES)
                    .fma(FloatVector.fromArray(FLOATS, x, xOffset + i + 3 * FLOAT_LANES), acc3);
        }
        float reduced = reduceVecDot(acc0.add(acc2).add(acc1.add(acc3)));
        if (half) {
            double sum = reduced;
            for (int i = whole; i < count; i++) {
                sum += w[wOffset + i] * x[xOffset + i];
            }
            return (float) sum;
        }
        float sum = reduced;
        for (int i = whole; i < count; i++) {
            sum += w[wOffset + i] * x[xOffset + i];
        }
        return sum;
    }

    /**
     * {@link #vecDotFloats} for two weight rows ({@code w[w0 ..]}, {@code w[w1 ..]}) times three vectors
     * ({@code x[x0 ..]}, {@code x[x1 ..]}, {@code x[x2 ..]}) at once, each of the six pairs with its own four
     * accumulators, FMAs, reduction and tail as there (so the same floats); each weight and activation vector loaded
     * once serves two or three FMAs instead of one. Pair (row r, vector t) goes to {@code out[o + t * stride + r]}.
     */
    static void vecDotFloats2x3(float[] w, int w0, int w1, int count, float[] x, int x0, int x1, int x2, boolean half,
            float[] out, int o, int stride) {
        int step = 4 * FLOAT_LANES;
        int whole = count / step * step;
        FloatVector a000 = FloatVector.zero(FLOATS), a001 = FloatVector.zero(FLOATS), a002 = FloatVector.zero(FLOATS), a010 = FloatVector.zero(FLOATS), a011 = FloatVector.zero(FLOATS), a012 = FloatVector.zero(FLOATS);
        FloatVector a100 = FloatVector.zero(FLOATS), a101 = FloatVector.zero(FLOATS), a102 = FloatVector.zero(FLOATS), a110 = FloatVector.zero(FLOATS), a111 = FloatVector.zero(FLOATS), a112 = FloatVector.zero(FLOATS);
        FloatVector a200 = FloatVector.zero(FLOATS), a201 = FloatVector.zero(FLOATS), a202 = FloatVector.zero(FLOATS), a210 = FloatVector.zero(FLOATS), a211 = FloatVector.zero(FLOATS), a212 = FloatVector.zero(FLOATS);
        FloatVector a300 = FloatVector.zero(FLOATS), a301 = FloatVector.zero(FLOATS), a302 = FloatVector.zero(FLOATS), a310 = FloatVector.zero(FLOATS), a311 = FloatVector.zero(FLOATS), a312 = FloatVector.zero(FLOATS);
        for (int i = 0; i < whole; i += step) {
            FloatVector wa = FloatVector.fromArray(FLOATS, w, w0 + i);
            FloatVector wb = FloatVector.fromArray(FLOATS, w, w1 + i);
            FloatVector v0 = FloatVector.fromArray(FLOATS, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(FLOATS, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(FLOATS, x, x2 + i);
            a000 = wa.fma(v0, a000);
            a010 = wb.fma(v0, a010);
            a001 = wa.fma(v1, a001);
            a011 = wb.fma(v1, a011);
            a002 = wa.fma(v2, a002);
            a012 = wb.fma(v2, a012);
            wa = FloatVector.fromArray(FLOATS, w, w0 + i + 1 * FLOAT_LANES);
            wb = FloatVector.fromArray(FLOATS, w, w1 + i + 1 * FLOAT_LANES);
            v0 = FloatVector.fromArray(FLOATS, x, x0 + i + 1 * FLOAT_LANES);
            v1 = FloatVector.fromArray(FLOATS, x, x1 + i + 1 * FLOAT_LANES);
            v2 = FloatVector.fromArray(FLOATS, x, x2 + i + 1 * FLOAT_LANES);
            a100 = wa.fma(v0, a100);
            a110 = wb.fma(v0, a110);
            a101 = wa.fma(v1, a101);
            a111 = wb.fma(v1, a111);
            a102 = wa.fma(v2, a102);
            a112 = wb.fma(v2, a112);
            wa = FloatVector.fromArray(FLOATS, w, w0 + i + 2 * FLOAT_LANES);
            wb = FloatVector.fromArray(FLOATS, w, w1 + i + 2 * FLOAT_LANES);
            v0 = FloatVector.fromArray(FLOATS, x, x0 + i + 2 * FLOAT_LANES);
            v1 = FloatVector.fromArray(FLOATS, x, x1 + i + 2 * FLOAT_LANES);
            v2 = FloatVector.fromArray(FLOATS, x, x2 + i + 2 * FLOAT_LANES);
            a200 = wa.fma(v0, a200);
            a210 = wb.fma(v0, a210);
            a201 = wa.fma(v1, a201);
            a211 = wb.fma(v1, a211);
            a202 = wa.fma(v2, a202);
            a212 = wb.fma(v2, a212);
            wa = FloatVector.fromArray(FLOATS, w, w0 + i + 3 * FLOAT_LANES);
            wb = FloatVector.fromArray(FLOATS, w, w1 + i + 3 * FLOAT_LANES);
            v0 = FloatVector.fromArray(FLOATS, x, x0 + i + 3 * FLOAT_LANES);
            v1 = FloatVector.fromArray(FLOATS, x, x1 + i + 3 * FLOAT_LANES);
            v2 = FloatVector.fromArray(FLOATS, x, x2 + i + 3 * FLOAT_LANES);
            a300 = wa.fma(v0, a300);
            a310 = wb.fma(v0, a310);
            a301 = wa.fma(v1, a301);
            a311 = wb.fma(v1, a311);
            a302 = wa.fma(v2, a302);
            a312 = wb.fma(v2, a312);
        }
        out[o + 0 * stride + 0] = finish(reduceVecDot(a000.add(a200).add(a100.add(a300))), w, w0, x, x0, whole, count, half);
        out[o + 1 * stride + 0] = finish(reduceVecDot(a001.add(a201).add(a101.add(a301))), w, w0, x, x1, whole, count, half);
        out[o + 2 * stride + 0] = finish(reduceVecDot(a002.add(a202).add(a102.add(a302))), w, w0, x, x2, whole, count, half);
        out[o + 0 * stride + 1] = finish(reduceVecDot(a010.add(a210).add(a110.add(a310))), w, w1, x, x0, whole, count, half);
        out[o + 1 * stride + 1] = finish(reduceVecDot(a011.add(a211).add(a111.add(a311))), w, w1, x, x1, whole, count, half);
        out[o + 2 * stride + 1] = finish(reduceVecDot(a012.add(a212).add(a112.add(a312))), w, w1, x, x2, whole, count, half);
    }

    /** The tail of {@link #vecDotFloats} after the reduced whole steps. */
    private static float finish(float reduced, float[] w, int wOffset, float[] x, int xOffset, int whole, int count,
            boolean half) {
        if (half) {
            double sum = reduced;
            for (int i = whole; i < count; i++) {
                sum += w[wOffset + i] * x[xOffset + i];
            }
            return (float) sum;
        }
        float sum = reduced;
        for (int i = whole; i < count; i++) {
            sum += w[wOffset + i] * x[xOffset + i];
        }
        return sum;
    }

    private static FloatVector load(MemorySegment data, long element, boolean half) {
        return half
                ? KernelVectors.halfToFloat(KernelVectors.loadShorts(data, element * 2))
                : FloatVector.fromMemorySegment(FLOATS, data, element * 4, ByteOrder.LITTLE_ENDIAN);
    }

    /** The last step of {@code GGML_F32_VEC_REDUCE}: the lanes of one vector summed. */
    static float reduceVecDot(FloatVector v) {
        return switch (v.length()) {
            case 16 -> gccReduce16(v);
            // AVX: low half + high half, then two _mm_hadd_ps.
            case 8 -> (v.lane(0) + v.lane(4) + (v.lane(1) + v.lane(5))) + (v.lane(2) + v.lane(6) + (v.lane(3) + v.lane(7)));
            default -> (v.lane(0) + v.lane(1)) + (v.lane(2) + v.lane(3));
        };
    }

    /**
     * GCC's {@code _mm512_reduce_add_ps}: high 256 bits + low 256, then high 128 + low 128, then lanes (0, 2) and
     * (1, 3), then those two.
     */
    private static float gccReduce16(FloatVector v) {
        float t0 = v.lane(0) + v.lane(8) + (v.lane(4) + v.lane(12));
        float t1 = v.lane(1) + v.lane(9) + (v.lane(5) + v.lane(13));
        float t2 = v.lane(2) + v.lane(10) + (v.lane(6) + v.lane(14));
        float t3 = v.lane(3) + v.lane(11) + (v.lane(7) + v.lane(15));
        return (t0 + t2) + (t1 + t3);
    }

    /** The scalar twin of {@link #vecDot} for a vector width of {@code lanes}, over plain float weights. */
    static float vecDotScalar(float[] w, int wOffset, int count, float[] x, int xOffset, int lanes, boolean half) {
        int step = 4 * lanes;
        int whole = count / step * step;
        float[] acc = new float[step];
        for (int i = 0; i < whole; i += step) {
            for (int j = 0; j < step; j++) {
                acc[j] = Math.fma(w[wOffset + i + j], x[xOffset + i + j], acc[j]);
            }
        }
        float[] folded = new float[lanes];
        for (int l = 0; l < lanes; l++) {
            folded[l] = (acc[l] + acc[2 * lanes + l]) + (acc[lanes + l] + acc[3 * lanes + l]);
        }
        float reduced = reduceScalar(folded);
        if (half) {
            double sum = reduced;
            for (int i = whole; i < count; i++) {
                sum += w[wOffset + i] * x[xOffset + i];
            }
            return (float) sum;
        }
        float sum = reduced;
        for (int i = whole; i < count; i++) {
            sum += w[wOffset + i] * x[xOffset + i];
        }
        return sum;
    }

    private static float reduceScalar(float[] a) {
        return switch (a.length) {
            case 16 -> {
                float[] t = new float[4];
                for (int i = 0; i < 4; i++) {
                    t[i] = a[i] + a[i + 8] + (a[i + 4] + a[i + 12]);
                }
                yield (t[0] + t[2]) + (t[1] + t[3]);
            }
            case 8 -> (a[0] + a[4] + (a[1] + a[5])) + (a[2] + a[6] + (a[3] + a[7]));
            default -> (a[0] + a[1]) + (a[2] + a[3]);
        };
    }
}
