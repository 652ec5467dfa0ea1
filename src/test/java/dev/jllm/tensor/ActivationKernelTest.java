package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Preparing activations as ggml's x86 CPU build does before a matrix product: Q8_0 / Q8_1 blocks against a plain
 * re-implementation of {@code quantize_row_q8_0} / {@code quantize_row_q8_1} (AVX2 branch) on fresh random data,
 * hand-checked ties and zero blocks, and the F16 / BF16 roundings.
 */
class ActivationKernelTest {

    /** ggml's AVX2 quantize_row_q8_1 written out plainly; q8_0 is the same without s. */
    private record Block(byte[] q, short d, short s) {
    }

    private static Block ggmlQuantize(float[] x, int start) {
        float amax = 0f;
        for (int i = 0; i < 32; i++) {
            float a = Math.abs(x[start + i]);
            if (a > amax) {
                amax = a;
            }
        }
        float d = amax / 127.f;
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        byte[] q = new byte[32];
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            // _mm256_round_ps(_MM_ROUND_NEAREST): ties to even; then cvtps_epi32 and saturating packs.
            float r = (float) Math.rint(x[start + i] * id);
            int v = (int) Math.max(-128, Math.min(127, r));
            q[i] = (byte) v;
            sum += v;
        }
        return new Block(q, Float.floatToFloat16(d), Float.floatToFloat16(d * sum));
    }

    private static float[] randomActivations(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            double scale = Math.pow(10, random.nextInt(9) - 4);
            x[i] = (float) (random.nextGaussian() * scale);
        }
        // Some blocks entirely zero, some with one value only, some with repeated magnitudes.
        for (int b = 0; b < n / 32; b++) {
            switch (random.nextInt(6)) {
                case 0 -> java.util.Arrays.fill(x, b * 32, b * 32 + 32, 0f);
                case 1 -> {
                    java.util.Arrays.fill(x, b * 32, b * 32 + 32, 0f);
                    x[b * 32 + random.nextInt(32)] = (float) random.nextGaussian();
                }
                case 2 -> {
                    float v = (float) random.nextGaussian();
                    for (int i = 0; i < 32; i++) {
                        x[b * 32 + i] = random.nextBoolean() ? v : -v;
                    }
                }
                default -> {
                }
            }
        }
        return x;
    }

    @Test
    void q8BlocksMatchGgmlsQuantizerOnRandomData() {
        long seed = dev.jllm.TestSeeds.seed("ActivationKernelTest.q8BlocksMatchGgmlsQuantizerOnRandomData");
        Random random = new Random(seed);
        PreparedActivations prepared = new PreparedActivations();
        for (int round = 0; round < 50; round++) {
            int rowLength = 32 * (1 + random.nextInt(12));
            int batch = 1 + random.nextInt(4);
            float[] x = randomActivations(random, rowLength * batch + random.nextInt(40));
            for (ActivationFormat format : new ActivationFormat[] {ActivationFormat.Q8_0, ActivationFormat.Q8_1}) {
                assertSame(prepared, prepared.prepare(format, x, rowLength, batch));
                assertEquals(format, prepared.format());
                assertEquals(rowLength, prepared.rowLength());
                assertEquals(batch, prepared.batch());
                for (int b = 0; b < rowLength * batch / 32; b++) {
                    Block want = ggmlQuantize(x, b * 32);
                    String where = "seed " + seed + ", " + format + " block " + b;
                    for (int i = 0; i < 32; i++) {
                        assertEquals(want.q()[i], prepared.quants()[b * 32 + i], where + " value " + i);
                        assertEquals(want.q()[i], prepared.shorts()[b * 32 + i], where + " short " + i);
                    }
                    assertEquals(Float.float16ToFloat(want.d()), prepared.scales()[b], where + " d");
                    if (format == ActivationFormat.Q8_1) {
                        assertEquals(Float.float16ToFloat(want.s()), prepared.sums()[b], where + " s");
                    }
                }
            }
        }
    }

    @Test
    void tiesRoundToEvenAndScaleIs127OverAmax() {
        // amax 127: d = 1 and id = 1 exactly, so x * id is x and the ties are visible.
        float[] x = new float[32];
        float[] ties = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -126.5f, 3.49f, 3.51f, 127f};
        int[] want = {0, 2, 2, 0, -2, -2, 126, -126, 3, 4, 127};
        System.arraycopy(ties, 0, x, 0, ties.length);
        PreparedActivations p = new PreparedActivations().prepare(ActivationFormat.Q8_1, x, 32, 1);
        int sum = 0;
        for (int i = 0; i < ties.length; i++) {
            assertEquals(want[i], p.quants()[i], "x = " + ties[i]);
            sum += want[i];
        }
        assertEquals(1f, p.scales()[0]);
        assertEquals(PreparedActivations.roundToHalf(sum), p.sums()[0]);

        // ggml's x86 quantizer multiplies by 127 / amax, not by 1 / (amax / 127); find a value where they disagree.
        Random random = new Random(42);
        boolean found = false;
        for (int attempt = 0; attempt < 1_000_000 && !found; attempt++) {
            float amax = (float) (0.01 + random.nextDouble() * 10);
            float id = 127f / amax;
            float other = 1f / (amax / 127f);
            if (id == other) {
                continue;
            }
            for (int k = 1; k < 127 && !found; k++) {
                // A value just around the tie k + 0.5 under one multiplier.
                float v = (k + 0.5f) / id;
                for (float candidate : new float[] {v, Math.nextUp(v), Math.nextDown(v)}) {
                    if (Math.abs(candidate) < amax && Math.rint(candidate * id) != Math.rint(candidate * other)) {
                        float[] block = new float[32];
                        block[0] = amax;
                        block[1] = candidate;
                        PreparedActivations q = new PreparedActivations().prepare(ActivationFormat.Q8_0, block, 32, 1);
                        assertEquals((int) Math.rint(candidate * id), q.quants()[1],
                                "amax " + amax + ", x " + candidate);
                        found = true;
                        break;
                    }
                }
            }
        }
        assertTrue(found, "no value found where 127/amax and 1/(amax/127) round differently");
    }

    @Test
    void zeroAndTinyBlocksGiveAZeroScale() {
        float[] x = new float[96];
        x[40] = 1e-42f; // subnormal: 127 / amax overflows to infinity, as in ggml
        x[70] = -3f;
        for (ActivationFormat format : new ActivationFormat[] {ActivationFormat.Q8_0, ActivationFormat.Q8_1}) {
            PreparedActivations p = new PreparedActivations().prepare(format, x, 96, 1);
            for (int i = 0; i < 32; i++) {
                assertEquals(0, p.quants()[i]);
            }
            assertEquals(0f, p.scales()[0]);
            assertEquals(0f, p.scales()[1]);
            assertEquals(-127, p.quants()[70]);
            assertEquals(PreparedActivations.roundToHalf(3f / 127f), p.scales()[2]);
            if (format == ActivationFormat.Q8_1) {
                assertEquals(0f, p.sums()[0]);
                assertEquals(PreparedActivations.roundToHalf(3f / 127f * -127), p.sums()[2]);
            }
        }
    }

    @Test
    void floatFormatsRoundToNearestEven() {
        long seed = dev.jllm.TestSeeds.seed("ActivationKernelTest.floatFormatsRoundToNearestEven");
        Random random = new Random(seed);
        int n = 1000;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (i % 5) {
                case 0 -> Float.intBitsToFloat(random.nextInt()); // any pattern, NaNs and infinities included
                case 1 -> Float.intBitsToFloat(random.nextInt() & 0xFFFF8000 | 0x8000); // exact bfloat16 ties
                case 2 -> Float.intBitsToFloat(random.nextInt() & 0xFFFFF000 | 0x1000); // exact half ties
                default -> (float) random.nextGaussian();
            };
        }
        PreparedActivations p = new PreparedActivations();

        p.prepare(ActivationFormat.F32, x, 100, 10);
        assertSame(x, p.floats(), "F32 activations are not copied");

        p.prepare(ActivationFormat.F16, x, 100, 10);
        for (int i = 0; i < n; i++) {
            float want = Float.float16ToFloat(Float.floatToFloat16(x[i]));
            assertTrue(Float.compare(want, p.floats()[i]) == 0, "seed " + seed + ", F16 of " + x[i]);
        }

        p.prepare(ActivationFormat.BF16, x, 100, 10);
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToRawIntBits(x[i]);
            float got = p.floats()[i];
            if (Float.isNaN(x[i])) {
                assertTrue(Float.isNaN(got), "NaN stays NaN");
                assertEquals((bits >>> 16 | 0x40) << 16, Float.floatToRawIntBits(got), "NaN made quiet, sign kept");
                continue;
            }
            // Round to nearest even on the bits, by BigDecimal-free reasoning: the two neighbours and the midpoint.
            int down = bits & 0xFFFF0000;
            int up = down + 0x10000;
            int rest = bits & 0xFFFF;
            int want = rest < 0x8000 ? down : rest > 0x8000 ? up : ((down >>> 16 & 1) == 0 ? down : up);
            assertEquals(want, Float.floatToRawIntBits(got), "seed " + seed + ", BF16 of " + x[i]);
        }
        assertEquals(Float.POSITIVE_INFINITY, PreparedActivations.roundToBfloat16(Float.MAX_VALUE));
        assertEquals(Float.NEGATIVE_INFINITY, PreparedActivations.roundToBfloat16(Float.NEGATIVE_INFINITY));
        assertEquals(1f, PreparedActivations.roundToBfloat16(Float.intBitsToFloat(0x3F808000)));
        assertEquals(Float.intBitsToFloat(0x3F820000), PreparedActivations.roundToBfloat16(Float.intBitsToFloat(0x3F818000)));
    }

    /**
     * ggml's quantize_row_q8_K_ref, written here plainly: max = the value of largest magnitude (the first on ties),
     * iscale = -127 / max, q = min(127, round-half-even(float(iscale * x))), d = 1 / iscale, sums of 16; an all-zero
     * block gives d = 0. Compared on random data with ties, zero blocks and extreme values, and the token-group
     * layout of the batch tiles.
     */
    @Test
    void q8KBlocksMatchGgmlsReferenceQuantizer() {
        long seed = dev.jllm.TestSeeds.seed("ActivationKernelTest.q8KBlocksMatchGgmlsReferenceQuantizer");
        Random random = new Random(seed);
        PreparedActivations p = new PreparedActivations();
        for (int round = 0; round < 40; round++) {
            int rowLength = 256 * (1 + random.nextInt(4));
            int batch = 1 + random.nextInt(40);
            float[] x = BlockKernelTest.activations(random, rowLength * batch);
            for (int i = 0; i < x.length; i += 1 + random.nextInt(50)) {
                x[i] = (float) Math.rint(x[i] * 4) / 4; // exact quarters: ties of iscale * x when max is a power of 2
            }
            p.prepare(ActivationFormat.Q8_K, x, rowLength, batch);
            int blocks = rowLength * batch / 256;
            for (int b = 0; b < blocks; b++) {
                String where = "seed " + seed + ", Q8_K block " + b;
                float max = 0f;
                float amax = 0f;
                for (int i = b * 256; i < b * 256 + 256; i++) {
                    if (Math.abs(x[i]) > amax) {
                        amax = Math.abs(x[i]);
                        max = x[i];
                    }
                }
                float iscale = amax == 0f ? 0f : -127f / max;
                for (int i = b * 256; i < b * 256 + 256; i++) {
                    float product = iscale * x[i];
                    int want = Math.min(127, (int) Math.rint(product));
                    assertEquals(want, p.quants()[i], where + " value " + i + " (" + x[i] + ")");
                }
                assertEquals(amax == 0f ? 0f : 1f / iscale, p.scales()[b], where + " d");
                for (int g = 0; g < 16; g++) {
                    int sum = 0;
                    for (int i = b * 256 + 16 * g; i < b * 256 + 16 * g + 16; i++) {
                        sum += p.quants()[i];
                    }
                    assertEquals(sum, p.groupSums()[b * 16 + g], where + " sum " + g);
                }
            }
            if (batch > 1) {
                int groups = p.tokenGroupCount();
                assertTrue(groups % 2 == 0 && groups * 16 >= batch, "whole pairs of groups");
                for (int v = 0; v < groups * 16; v++) {
                    int g = v / 16;
                    int t = v % 16;
                    for (int e = 0; e < rowLength; e += 1 + random.nextInt(7)) {
                        float want = v < batch ? p.quants()[v * rowLength + e] : 0f;
                        assertEquals(want, p.tokenGroups()[(g * rowLength + e) * 16 + t], "token group value");
                    }
                    for (int k = 0; k < rowLength / 256; k++) {
                        assertEquals(v < batch ? p.scales()[v * rowLength / 256 + k] : 0f,
                                p.tokenGroupScales()[(g * rowLength / 256 + k) * 16 + t], "token group scale");
                    }
                    for (int c = 0; c < rowLength / 16; c++) {
                        assertEquals(v < batch ? p.groupSums()[v * rowLength / 16 + c] : 0f,
                                p.tokenGroupSums()[(g * rowLength / 16 + c) * 16 + t], "token group sum");
                    }
                }
            }
        }
        // The first value of largest magnitude maps to -127 whatever its sign; ties round to even.
        float[] x = new float[256];
        x[3] = -127f; // iscale = 1
        x[7] = 127f;
        x[9] = 0.5f;
        x[10] = 1.5f;
        x[11] = 2.5f;
        x[12] = -1.5f;
        p.prepare(ActivationFormat.Q8_K, x, 256, 1);
        assertEquals(-127, p.quants()[3]);
        assertEquals(127, p.quants()[7]);
        assertEquals(0, p.quants()[9]);
        assertEquals(2, p.quants()[10]);
        assertEquals(2, p.quants()[11]);
        assertEquals(-2, p.quants()[12]);
        assertEquals(1f, p.scales()[0]);
        x[3] = 4f; // the largest is now 127 (value 7): iscale = -1
        p.prepare(ActivationFormat.Q8_K, x, 256, 1);
        assertEquals(-127, p.quants()[7]);
        assertEquals(-1f, p.scales()[0], "d = 1 / iscale, negative when max is positive");
    }

    @Test
    void buffersAreReusedAndGrow() {
        PreparedActivations p = new PreparedActivations();
        float[] small = new float[64];
        small[0] = 1f;
        p.prepare(ActivationFormat.Q8_0, small, 32, 2);
        byte[] first = p.quants();
        p.prepare(ActivationFormat.Q8_0, small, 32, 1);
        assertSame(first, p.quants(), "a smaller batch reuses the buffer");
        float[] big = new float[32 * 100];
        big[32 * 99] = 2f;
        p.prepare(ActivationFormat.Q8_0, big, 32, 100);
        assertEquals(127, p.quants()[32 * 99]);
        assertEquals(0f, p.scales()[0]);
        assertEquals(PreparedActivations.roundToHalf(2f / 127f), p.scales()[99]);
    }

    @Test
    void rejectsRowsThatAreNotWholeBlocksAndShortInputs() {
        PreparedActivations p = new PreparedActivations();
        assertThrows(IllegalArgumentException.class, () -> p.prepare(ActivationFormat.Q8_0, new float[48], 48, 1));
        assertThrows(IllegalArgumentException.class, () -> p.prepare(ActivationFormat.F16, new float[10], 4, 3));
        p.prepare(ActivationFormat.F16, new float[48], 48, 1); // float formats take any length
    }
}
