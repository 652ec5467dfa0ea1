package dev.jllm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The 16-lane exponential and SiLU of {@link GgmlMath} give the bits of the scalar forms (ggml's polynomial), lane by
 * lane, on fresh random values over the whole range the softmax and SiLU see: around 0, large negative (results near
 * and below the smallest normal float, where the vector form must decline), large positive (overflow), and NaN and
 * infinities; and they decline rather than differ.
 */
class GgmlMathVectorTest {

    @Test
    void vectorExponentialAndSiluEqualTheScalarFormsBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("GgmlMathVectorTest.vectorExponentialAndSiluEqualTheScalarFormsBitForBit");
        Random random = new Random(seed);
        int vectorGroups = 0;
        for (int group = 0; group < 20000; group++) {
            float[] x = new float[16];
            int kind = group % 5;
            for (int i = 0; i < 16; i++) {
                x[i] = switch (kind) {
                    case 0 -> (float) random.nextGaussian() * 4f;
                    case 1 -> -random.nextFloat() * 30f;
                    case 2 -> -80f - random.nextFloat() * 30f; // 2^n near the smallest normal float and below
                    case 3 -> 80f + random.nextFloat() * 10f; // near overflow
                    default -> random.nextInt(40) == 0 ? specialValue(random) : (float) random.nextGaussian() * 20f;
                };
            }
            float[] out = new float[16];
            if (GgmlMath.expf(x, 0, out, 0)) {
                vectorGroups++;
                for (int i = 0; i < 16; i++) {
                    assertEquals(Float.floatToRawIntBits(GgmlMath.expf(x[i])), Float.floatToRawIntBits(out[i]),
                            "seed " + seed + ": e^" + x[i]);
                }
            }
            float[] v = x.clone();
            GgmlMath.silu(v, 0, 16);
            for (int i = 0; i < 16; i++) {
                float expected = x[i] / (1f + GgmlMath.expf(-x[i]));
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(v[i]),
                        "seed " + seed + ": silu(" + x[i] + ")");
            }
        }
        assertTrue(vectorGroups > 5000, "the vector form declined too often: " + vectorGroups);
    }

    private static float specialValue(Random random) {
        return switch (random.nextInt(4)) {
            case 0 -> Float.NaN;
            case 1 -> Float.POSITIVE_INFINITY;
            case 2 -> Float.NEGATIVE_INFINITY;
            default -> -0f;
        };
    }
}
