package dev.jllm.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** e^x and SiLU as ggml's CPU backend computes them on AVX-512, so results round as the reference's do. */
final class GgmlMath {

    private static final int LANES = 16;

    private GgmlMath() {
    }

    /**
     * e^x by the polynomial ggml vectorizes (after Arm's optimized routines): 2^n times a degree-5 polynomial in the
     * reduced argument; at most about 1.5 ulp from the true value. Underflows to 0 below about -104, overflows above 88.
     */
    static float expf(float x) {
        final float shift = 0x1.8p23f;
        float z = Math.fma(x, 0x1.715476p+0f, shift);
        float n = z - shift;
        if (!(Math.abs(n) <= 192f)) {
            return x > 0 ? Float.POSITIVE_INFINITY : 0f;
        }
        float b = Math.fma(-n, 0x1.7f7d1cp-20f, Math.fma(-n, 0x1.62e4p-1f, x));
        float u = b * b;
        float j = Math.fma(
                Math.fma(Math.fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, Math.fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                u,
                Math.fma(0x1.ffffecp-1f, b, 1.0f));
        return Math.scalb(j, (int) n);
    }

    /**
     * x / (1 + e^-x) in place over {@code v[from..from+n)}: whole groups of 16 with the vector exponential, the rest
     * with the C library's, as ggml's SiLU does.
     */
    static void silu(float[] v, int from, int n) {
        int vectorEnd = from + n / LANES * LANES;
        for (int i = from; i < vectorEnd; i += LANES) {
            if (!siluVector(v, i)) {
                for (int k = i; k < i + LANES; k++) {
                    v[k] = v[k] / (1f + expf(-v[k]));
                }
            }
        }
        for (int i = vectorEnd; i < from + n; i++) {
            v[i] = v[i] / (1f + (float) Math.exp(-v[i]));
        }
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    /** Whether the 16-lane forms below compile to single vectors (AVX-512); else every caller takes the scalar ones. */
    static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.length() >= LANES;

    /**
     * {@link #expf} of 16 values at once, each lane with the scalar form's operations (the same FMAs, products and
     * differences, in the same order), so the same bits; the final {@code scalb(j, n)} as a product by 2^n, which
     * rounds once exactly as scalb does while 2^n is a normal float. Returns false, having written nothing, when some
     * lane needs another n (a result near or below the subnormal range, an overflow, NaN): the caller then takes the
     * scalar form for those 16.
     */
    static boolean expf(float[] x, int at, float[] out, int outAt) {
        if (!VECTOR) {
            return false;
        }
        FloatVector v = FloatVector.fromArray(F, x, at);
        FloatVector r = expfLanes(v);
        if (r == null) {
            return false;
        }
        r.intoArray(out, outAt);
        return true;
    }

    /** x / (1 + e^-x) of v[at..at+16) in place with {@link #expf}'s lanes; false (nothing written) as expf. */
    private static boolean siluVector(float[] v, int at) {
        if (!VECTOR) {
            return false;
        }
        FloatVector x = FloatVector.fromArray(F, v, at);
        FloatVector e = expfLanes(x.neg());
        if (e == null) {
            return false;
        }
        x.div(e.add(1f)).intoArray(v, at);
        return true;
    }

    private static FloatVector expfLanes(FloatVector x) {
        final float shift = 0x1.8p23f;
        FloatVector z = x.fma(0x1.715476p+0f, shift);
        FloatVector n = z.sub(shift);
        // -126 <= n <= 127: 2^n a normal float (false for NaN)
        if (!n.compare(VectorOperators.GE, -126f).and(n.compare(VectorOperators.LE, 127f)).allTrue()) {
            return null;
        }
        FloatVector minusN = n.neg();
        FloatVector b = minusN.fma(FloatVector.broadcast(F, 0x1.7f7d1cp-20f), minusN.fma(FloatVector.broadcast(F,
                0x1.62e4p-1f), x));
        FloatVector u = b.mul(b);
        FloatVector j = b.fma(0x1.0e4020p-7f, 0x1.573e2ep-5f).fma(u, b.fma(0x1.555e66p-3f, 0x1.fffdb6p-2f))
                .fma(u, b.fma(0x1.ffffecp-1f, 1.0f));
        FloatVector pow = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127)
                .lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return j.mul(pow);
    }
}
