package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Dot products over prepared activations, for every block type on random blocks packed as {@link BlockKernelTest}
 * packs them: the vector kernel against the scalar one (bit for bit: both follow ggml's lanes and FMAs), both against
 * a float64 sum over the dequantized weights and the dequantized activations (float rounding only), and against the
 * float activations (within the quantization error of the activations). Also the float types and {@link MatMul}.
 */
class PreparedDotKernelTest {

    private static final int[] BLOCKS_PER_ROW = {1, 2, 3, 7, 33};
    private static final int ROWS = 3;
    private static final int BATCH = 3;
    private static final double ROUNDING = 1e-5;

    @FunctionalInterface
    interface PreparedDot {
        float dot(MemorySegment data, long first, int count, PreparedActivations x, int xOffset);
    }

    enum Case {
        Q8_0(BlockKernelTest.Case.Q8_0, Q8_0Kernel::dotPreparedScalar, ActivationFormat.Q8_0),
        Q4_0(BlockKernelTest.Case.Q4_0, Q4_0Kernel::dotPreparedScalar, ActivationFormat.Q8_0),
        Q4_1(BlockKernelTest.Case.Q4_1, Q4_1Kernel::dotPreparedScalar, ActivationFormat.Q8_1),
        Q5_0(BlockKernelTest.Case.Q5_0, Q5_0Kernel::dotPreparedScalar, ActivationFormat.Q8_0),
        Q5_1(BlockKernelTest.Case.Q5_1, Q5_1Kernel::dotPreparedScalar, ActivationFormat.Q8_1),
        Q4_0_INTERLEAVED(BlockKernelTest.Case.Q4_0, Q4_0Kernel::dotInterleavedOrderScalar, ActivationFormat.Q8_0,
                Q4_0Kernel.INTERLEAVED);

        final BlockKernelTest.Case blocks;
        final PreparedDot scalar;
        final ActivationFormat format;
        final Kernel kernel;

        Case(BlockKernelTest.Case blocks, PreparedDot scalar, ActivationFormat format) {
            this(blocks, scalar, format, blocks.type.kernel());
        }

        Case(BlockKernelTest.Case blocks, PreparedDot scalar, ActivationFormat format, Kernel kernel) {
            this.blocks = blocks;
            this.scalar = scalar;
            this.format = format;
            this.kernel = kernel;
        }
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void blockTypes(Case c) {
        long seed = dev.jllm.TestSeeds.seed("PreparedDotKernelTest.blockTypes");
        Random random = new Random(seed);
        Kernel kernel = c.kernel;
        assertEquals(c.format, kernel.activationFormat());
        PreparedActivations prepared = new PreparedActivations();
        for (int round = 0; round < 6; round++) {
            for (int blocks : BLOCKS_PER_ROW) {
                checkBlocks(c, kernel, blocks * 32, random, prepared, "seed " + seed + ", round " + round);
            }
        }
    }

    private static void checkBlocks(Case c, Kernel kernel, int n, Random random, PreparedActivations prepared,
            String where) {
        GgmlType type = c.blocks.type;
        int total = n * ROWS;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(1L + type.bytesFor(total)).asSlice(1);
            float[] weights = new float[total];
            float[] magnitude = new float[total];
            for (int b = 0; b < total / 32; b++) {
                c.blocks.packer.pack(random, data, (long) b * type.blockBytes, weights, magnitude, b * 32);
            }
            float[] x = activations(random, n * BATCH);
            prepared.prepare(c.format, x, n, BATCH);
            float[] dequantizedX = dequantize(prepared, n * BATCH);
            for (int row = 0; row < ROWS; row++) {
                for (int b = 0; b < BATCH; b++) {
                    double exact = 0;
                    double scale = 0;
                    double fromFloats = 0;
                    double quantizationBound = 0;
                    for (int e = 0; e < n; e += 32) {
                        // Q4_1 / Q5_1: value = scaled + m, and the m part is multiplied by s, not by sum(q * d).
                        double m = c.format == ActivationFormat.Q8_1
                                ? Float.float16ToFloat(data.get(BlockKernelTest.SHORT_LE,
                                        (long) (row * n + e) / 32 * type.blockBytes + 2))
                                : 0;
                        int xBlock = (b * n + e) / 32;
                        double blockError = 0;
                        for (int i = e; i < e + 32; i++) {
                            double w = weights[row * n + i];
                            double xq = dequantizedX[b * n + i];
                            double error = quantizationError(prepared, x, b * n + i);
                            exact += (w - m) * xq;
                            scale += magnitude[row * n + i] * Math.abs(xq);
                            fromFloats += w * x[b * n + i];
                            quantizationBound += Math.abs(w - m) * error;
                            blockError += error;
                        }
                        if (m != 0) {
                            double s = prepared.sums()[xBlock];
                            exact += m * s;
                            scale += Math.abs(m * s);
                            int sumQ = 0;
                            for (int i = e; i < e + 32; i++) {
                                sumQ += prepared.quants()[b * n + i];
                            }
                            double d = amax(x, xBlock) / 127;
                            // |sum(x) - s| <= sum|x - q d16| + |sum(q)| |d16 - d| + fp16 rounding of d sum(q).
                            quantizationBound += Math.abs(m) * (blockError
                                    + Math.abs(sumQ) * Math.abs(prepared.scales()[xBlock] - d)
                                    + Math.abs(d * sumQ) * 0x1p-11 + 1e-30);
                        }
                    }
                    float vector = kernel.dotPrepared(data, (long) row * n, n, prepared, b * n);
                    float scalar = c.scalar.dot(data, (long) row * n, n, prepared, b * n);
                    String message = c + " row " + row + ", vector " + b + " of length " + n + ", " + where
                            + ": vector " + vector + ", scalar " + scalar + ", exact " + exact;
                    double rounding = ROUNDING * scale + Float.MIN_NORMAL;
                    assertEquals(Float.floatToRawIntBits(scalar), Float.floatToRawIntBits(vector), message);
                    assertTrue(Math.abs(vector - exact) <= rounding, message);
                    assertTrue(Math.abs(scalar - exact) <= rounding, message);
                    assertTrue(Math.abs(vector - fromFloats) <= quantizationBound + rounding,
                            message + ", float activations " + fromFloats + ", bound " + quantizationBound);
                }
            }
        }
    }

    /** Gaussian activations of mixed magnitudes, with some all-zero blocks. */
    static float[] activations(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (random.nextGaussian() * (random.nextInt(8) == 0 ? 20 : 1));
        }
        for (int b = 0; b < n / 32; b++) {
            if (random.nextInt(8) == 0) {
                java.util.Arrays.fill(x, b * 32, b * 32 + 32, 0f);
            }
        }
        return x;
    }

    /** What the prepared activations stand for: q * d for the quantized formats, the rounded values otherwise. */
    private static float[] dequantize(PreparedActivations p, int n) {
        if (!p.format().quantized()) {
            return java.util.Arrays.copyOf(p.floats(), n);
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = p.quants()[i] * p.scales()[i / 32];
        }
        return out;
    }

    /**
     * A bound on |x - q * d| for one value: half a step of the unrounded scale (amax / 127, with room for the float
     * rounding of x * 127 / amax), plus what rounding the scale to fp16 moves the value by.
     */
    private static double quantizationError(PreparedActivations p, float[] x, int i) {
        int block = i / 32;
        double step = amax(x, block) / 127;
        return step * (0.5 + 1e-5) + Math.abs(p.quants()[i]) * Math.abs(step - p.scales()[block]) + 1e-30;
    }

    private static double amax(float[] x, int block) {
        double amax = 0;
        for (int j = block * 32; j < block * 32 + 32; j++) {
            amax = Math.max(amax, Math.abs(x[j]));
        }
        return amax;
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16"})
    void floatTypesMultiplyRoundedActivationsInGgmlsOrder(GgmlType type) {
        long seed = dev.jllm.TestSeeds.seed("PreparedDotKernelTest.floatTypesMultiplyRoundedActivationsInGgmlsOrder");
        Random random = new Random(seed);
        Kernel kernel = type.kernel();
        ActivationFormat format = ActivationFormat.valueOf(type.name());
        assertEquals(format, kernel.activationFormat());
        int lanes = KernelVectors.FLOAT_LANES;
        PreparedActivations prepared = new PreparedActivations();
        for (int n = 1; n <= 200; n += n < 70 ? 1 : 13) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment data = arena.allocate(1 + type.bytesFor((long) n * ROWS)).asSlice(1);
                for (int i = 0; i < n * ROWS; i++) {
                    FloatKernelTest.Case.valueOf(type.name()).write(random, data, i);
                }
                float[] weights = new float[n * ROWS];
                kernel.dequantize(data, 0, n * ROWS, weights, 0);
                float[] x = activations(random, n * BATCH);
                prepared.prepare(format, x, n, BATCH);
                assertSame(kernel, kernel.forProduct(n, ROWS, 1), "one order for every batch");
                assertSame(kernel, kernel.forProduct(n, ROWS, 7), "one order for every batch");
                for (int row = 0; row < ROWS; row++) {
                    for (int b = 0; b < BATCH; b++) {
                        String where = "seed " + seed + ", " + type + " length " + n + " row " + row + " vector " + b;
                        float[] rounded = java.util.Arrays.copyOfRange(prepared.floats(), b * n, b * n + n);
                        for (int i = 0; i < n; i++) {
                            float v = x[b * n + i];
                            float want = switch (format) {
                                case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
                                case BF16 -> PreparedActivations.roundToBfloat16(v);
                                default -> v;
                            };
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(rounded[i]), where);
                        }
                        double exact = 0;
                        double scale = 0;
                        for (int i = 0; i < n; i++) {
                            exact += (double) weights[row * n + i] * rounded[i];
                            scale += Math.abs((double) weights[row * n + i] * rounded[i]);
                        }
                        double rounding = ROUNDING * scale + Float.MIN_NORMAL;
                        float got = kernel.dotPrepared(data, (long) row * n, n, prepared, b * n);
                        assertTrue(Math.abs(got - exact) <= rounding, where + ": " + got + " vs " + exact);
                        if (type == GgmlType.BF16) {
                            float want = kernel.dot(data, (long) row * n, n, rounded, 0);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), where);
                            continue;
                        }
                        boolean half = type == GgmlType.F16;
                        float want = FloatDotOrder.vecDotScalar(weights, row * n, n, rounded, 0, lanes, half);
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), where + " (vec_dot)");
                    }
                }
            }
        }
    }

    @Test
    void matMulPreparesOnceAndMatchesRowByRowDots() {
        long seed = dev.jllm.TestSeeds.seed("PreparedDotKernelTest.matMulPreparesOnceAndMatchesRowByRowDots");
        Random random = new Random(seed);
        for (BlockKernelTest.Case c : BlockKernelTest.Case.values()) {
            for (int rows : new int[] {37, 40}) {
                for (int batch : new int[] {1, 4}) {
                    checkMatMul(c, rows, batch, random, "seed " + seed);
                }
            }
        }
        assertSame(Q4_0Kernel.INTERLEAVED, Q4_0Kernel.INSTANCE.forProduct(64, 40, 1));
        assertSame(Q4_0Kernel.INTERLEAVED, Q4_0Kernel.INSTANCE.forProduct(64, 40, 9));
        assertSame(Q4_0Kernel.INSTANCE, Q4_0Kernel.INSTANCE.forProduct(64, 172, 1));
        assertSame(Q8_0Kernel.INSTANCE, Q8_0Kernel.INSTANCE.forProduct(64, 64, 5));
    }

    private static void checkMatMul(BlockKernelTest.Case c, int rows, int batch, Random random, String where) {
        GgmlType type = c.type;
        int n = 32 * 5;
        try (Arena arena = Arena.ofShared()) { // the thread pool reads it
            MemorySegment data = arena.allocate(type.bytesFor((long) n * rows));
            float[] ignored = new float[n * rows];
            for (int b = 0; b < n * rows / 32; b++) {
                c.packer.pack(random, data, (long) b * type.blockBytes, ignored, new float[n * rows], b * 32);
            }
            Tensor w = new Tensor("w", type, new long[] {n, rows}, data);
            float[] x = activations(random, n * batch + 7);
            float[] out = new float[rows * batch];
            MatMul.apply(w, x, batch, out);
            Kernel kernel = w.kernel().forProduct(n, rows, batch);
            PreparedActivations p = new PreparedActivations().prepare(kernel.activationFormat(), x, n, batch);
            for (int b = 0; b < batch; b++) {
                for (int r = 0; r < rows; r++) {
                    float want = kernel.dotPrepared(data, (long) r * n, n, p, b * n);
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[b * rows + r]),
                            where + ", " + type + " with " + rows + " rows: row " + r + " vector " + b);
                }
            }
            float[] again = new float[rows * batch];
            MatMul.apply(w, x, batch, again, new PreparedActivations());
            assertTrue(java.util.Arrays.equals(out, again), type + ": a caller's buffer gives the same result");
        }
    }

    @Test
    void aKernelRefusesActivationsPreparedInAnotherFormat() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(GgmlType.Q4_1.bytesFor(64));
            float[] x = new float[64];
            PreparedActivations q80 = new PreparedActivations().prepare(ActivationFormat.Q8_0, x, 64, 1);
            assertThrows(IllegalArgumentException.class, () -> Q4_1Kernel.INSTANCE.dotPrepared(data, 0, 64, q80, 0));
            assertThrows(IllegalArgumentException.class, () -> Q4_0Kernel.INSTANCE.dotPrepared(data, 0, 32, q80, 16));
            PreparedActivations f32 = new PreparedActivations().prepare(ActivationFormat.F32, x, 64, 1);
            assertThrows(IllegalArgumentException.class, () -> F16Kernel.INSTANCE.dotPrepared(data, 0, 64, f32, 0));
            assertThrows(IllegalArgumentException.class, () -> Q8_0Kernel.INSTANCE.dotPrepared(data, 0, 64, f32, 0));
        }
    }
}
