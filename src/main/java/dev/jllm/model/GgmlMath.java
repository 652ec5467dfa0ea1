package dev.jllm.model;

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
        for (int i = from; i < vectorEnd; i++) {
            v[i] = v[i] / (1f + expf(-v[i]));
        }
        for (int i = vectorEnd; i < from + n; i++) {
            v[i] = v[i] / (1f + (float) Math.exp(-v[i]));
        }
    }
}
