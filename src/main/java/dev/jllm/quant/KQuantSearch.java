package dev.jllm.quant;

/**
 * The scale searches of ggml's reference K-quant quantizers ({@code make_qkx2_quants}, {@code make_qx_quants},
 * {@code nearest_int}), with every float operation in C's order and precision: llama.cpp's ggml-base, where they live,
 * is built without FMA contraction, so Java's float arithmetic gives the same bits.
 */
final class KQuantSearch {

    private KQuantSearch() {
    }

    /** Below this, a group counts as all zero ({@code GROUP_MAX_EPS}). */
    static final float GROUP_MAX_EPS = 1e-15f;

    /** ggml's {@code nearest_int}: round to nearest even through the mantissa of {@code v + 1.5 * 2^23}. */
    static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912f) & 0x007FFFFF) - 0x00400000;
    }

    /**
     * {@code make_qkx2_quants}: quants {@code L[l0 ..]} in [0, nmax] of {@code x[x0 .. x0 + n)} for value =
     * scale * L - min, searching the scale over {@code nstep + 1} candidates around nmax / (max - min) and fitting
     * scale and min by weighted least squares. Returns the scale; {@code minOut[0]} gets the min (positive for a
     * negative offset).
     */
    static float affine(int n, int nmax, float[] x, int x0, float[] weights, int[] l, int l0, float[] minOut,
            int[] aux, float rmin, float rdelta, int nstep, boolean useMad) {
        float min = x[x0];
        float max = x[x0];
        float sumW = weights[0];
        float sumX = sumW * x[x0];
        for (int i = 1; i < n; i++) {
            if (x[x0 + i] < min) {
                min = x[x0 + i];
            }
            if (x[x0 + i] > max) {
                max = x[x0 + i];
            }
            float w = weights[i];
            sumW += w;
            sumX += w * x[x0 + i];
        }
        if (min > 0) {
            min = 0;
        }
        if (max == min) {
            for (int i = 0; i < n; i++) {
                l[l0 + i] = 0;
            }
            minOut[0] = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int q = nearestInt(iscale * (x[x0 + i] - min));
            l[l0 + i] = Math.max(0, Math.min(nmax, q));
            float diff = scale * l[l0 + i] + min - x[x0 + i];
            diff = useMad ? Math.abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1) {
            minOut[0] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0;
            float sumL2 = 0;
            float sumXL = 0;
            for (int i = 0; i < n; i++) {
                int q = nearestInt(iscale * (x[x0 + i] - min));
                q = Math.max(0, Math.min(nmax, q));
                aux[i] = q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXL += w * q * x[x0 + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float error = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * aux[i] + thisMin - x[x0 + i];
                    diff = useMad ? Math.abs(diff) : diff * diff;
                    error += weights[i] * diff;
                }
                if (error < bestError) {
                    System.arraycopy(aux, 0, l, l0, n);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        minOut[0] = -min;
        return scale;
    }

    /**
     * {@code make_qx_quants} with {@code rmse_type} 1 and no importance weights: quants {@code L[l0 ..]} in
     * [0, 2 nmax) (stored plus nmax) of {@code x[x0 .. x0 + n)} for value = scale * (L - nmax), the scale chosen among
     * 19 candidates around -nmax / max by weighted (x^2) least squares. Returns the scale.
     */
    static float symmetric(int n, int nmax, float[] x, int x0, int[] l, int l0) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[x0 + i]);
            if (ax > amax) {
                amax = ax;
                max = x[x0 + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) {
                l[l0 + i] = 0;
            }
            return 0f;
        }
        float iscale = -nmax / max;
        float sumLX = 0;
        float sumL2 = 0;
        for (int i = 0; i < n; i++) {
            int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[x0 + i])));
            l[l0 + i] = q + nmax;
            float w = x[x0 + i] * x[x0 + i];
            sumLX += w * x[x0 + i] * q;
            sumL2 += w * q * q;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0f;
        float best = scale * sumLX;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumLX = 0;
            sumL2 = 0;
            for (int i = 0; i < n; i++) {
                int q = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[x0 + i])));
                float w = x[x0 + i] * x[x0 + i];
                sumLX += w * x[x0 + i] * q;
                sumL2 += w * q * q;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2) {
                for (int i = 0; i < n; i++) {
                    l[l0 + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[x0 + i])));
                }
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }
}
