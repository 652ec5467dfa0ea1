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
