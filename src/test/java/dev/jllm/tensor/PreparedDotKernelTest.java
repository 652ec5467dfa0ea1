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
 * Dot products over prepared activations beyond {@link BlockKernelTest}: Q4_0 in ggml's repacked order, the float
 * types, {@link MatMul} against row-by-row dot products, and the checks a kernel makes of its activations.
 */
class PreparedDotKernelTest {

    private static final int[] BLOCKS_PER_ROW = {1, 2, 3, 7, 33};
    private static final int ROWS = 3;
    private static final int BATCH = 3;
    private static final double ROUNDING = 1e-5;

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
                float[] x = BlockKernelTest.activations(random, n * BATCH);
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
        for (BlockSamples.Type c : BlockSamples.Type.values()) {
            for (int rows : new int[] {37, 40}) {
                for (int batch : new int[] {1, 4}) {
                    checkMatMul(c, rows, batch, random, "seed " + seed);
                }
            }
        }
        assertSame(Kernels.Q4_0_REPACKED, Kernels.Q4_0.forProduct(64, 40, 1));
        assertSame(Kernels.Q4_0_REPACKED, Kernels.Q4_0.forProduct(64, 40, 9));
        assertSame(Kernels.Q4_0, Kernels.Q4_0.forProduct(64, 172, 1));
        assertSame(Kernels.Q8_0, Kernels.Q8_0.forProduct(64, 64, 5));
        assertSame(Kernels.Q4_K, Kernels.Q4_K.forProduct(256, 64, 5));
    }

    private static void checkMatMul(BlockSamples.Type c, int rows, int batch, Random random, String where) {
        GgmlType type = c.ggml;
        int n = c.blockSize() * (c.blockSize() == 32 ? 5 : 2);
        try (Arena arena = Arena.ofShared()) { // the thread pool reads it
            MemorySegment data = arena.allocate(type.bytesFor((long) n * rows));
            BlockSamples.fill(c, random, data, n * rows / c.blockSize());
            Tensor w = new Tensor("w", type, new long[] {n, rows}, data);
            float[] x = BlockKernelTest.activations(random, n * batch + 7);
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

    /**
     * Q4_0 matrices whose row count is a multiple of 8 multiply as ggml's repacked kernels do: per block the whole
     * integer sum, then acc = fma(sum, d_w * d_x, acc), block after block; checked bit for bit against that scalar
     * loop, and the other Q4_0 matrices against ggml_vec_dot_q4_0_q8_0's lanes ({@link BlockKernelTest#ggmlOrder}).
     */
    @Test
    void q4_0RepackedOrderIsWholeBlockSums() {
        long seed = dev.jllm.TestSeeds.seed("PreparedDotKernelTest.q4_0RepackedOrderIsWholeBlockSums");
        Random random = new Random(seed);
        PreparedActivations p = new PreparedActivations();
        for (int round = 0; round < 20; round++) {
            int blocks = 1 + random.nextInt(300);
            int n = 32 * blocks;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment data = arena.allocate(1 + GgmlType.Q4_0.bytesFor(n)).asSlice(1);
                BlockSamples.Block[] all = BlockSamples.fill(BlockSamples.Type.Q4_0, random, data, blocks);
                float[] x = BlockKernelTest.activations(random, n);
                p.prepare(ActivationFormat.Q8_0, x, n, 1);
                float acc = 0f;
                for (int k = 0; k < blocks; k++) {
                    int sum = 0;
                    for (int i = 0; i < 32; i++) {
                        sum += all[k].quant(i) * p.quants()[32 * k + i];
                    }
                    acc = Math.fma((float) sum, all[k].dFloat() * p.scales()[k], acc);
                }
                float got = Kernels.Q4_0_REPACKED.dotPrepared(data, 0, n, p, 0);
                assertEquals(Float.floatToRawIntBits(acc), Float.floatToRawIntBits(got),
                        "seed " + seed + ", " + blocks + " blocks: " + got + " vs " + acc);
                float lanes = Kernels.Q4_0.dotPrepared(data, 0, n, p, 0);
                assertEquals(Float.floatToRawIntBits(BlockKernelTest.ggmlOrder(all, 0, blocks, p, 0)),
                        Float.floatToRawIntBits(lanes), "seed " + seed + ", " + blocks + " blocks (lanes)");
            }
        }
    }

    @Test
    void aKernelRefusesActivationsPreparedInAnotherFormat() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(GgmlType.Q4_1.bytesFor(256));
            float[] x = new float[256];
            PreparedActivations q80 = new PreparedActivations().prepare(ActivationFormat.Q8_0, x, 64, 1);
            assertThrows(IllegalArgumentException.class, () -> Kernels.Q4_1.dotPrepared(data, 0, 64, q80, 0));
            assertThrows(IllegalArgumentException.class, () -> Kernels.Q4_0.dotPrepared(data, 0, 32, q80, 16));
            assertThrows(IllegalArgumentException.class, () -> Kernels.Q4_K.dotPrepared(data, 0, 256, q80, 0));
            PreparedActivations f32 = new PreparedActivations().prepare(ActivationFormat.F32, x, 64, 1);
            assertThrows(IllegalArgumentException.class, () -> F16Kernel.INSTANCE.dotPrepared(data, 0, 64, f32, 0));
            assertThrows(IllegalArgumentException.class, () -> Kernels.Q8_0.dotPrepared(data, 0, 64, f32, 0));
        }
    }

    /** Kernels name the layouts they read; MatMul's preparation builds those and no others. */
    @Test
    void onlyTheLayoutsAKernelNamesArePrepared() {
        float[] x = new float[4 * 512];
        PreparedActivations p = new PreparedActivations();
        p.prepare(Kernels.Q4_K.activationFormat(), Kernels.Q4_K.productLayouts(64, 1), x, 512, 1);
        assertTrue(p.has(ActivationLayout.SHORTS));
        assertTrue(!p.has(ActivationLayout.TOKEN_GROUPS) && !p.has(ActivationLayout.NIBBLE_PAIRS)
                && !p.has(ActivationLayout.BLOCK_SUMS));
        assertThrows(IllegalStateException.class, p::tokenGroups);
        p.prepare(Kernels.Q8_0.activationFormat(), Kernels.Q8_0.productLayouts(64, 1), x, 512, 1);
        assertTrue(!p.has(ActivationLayout.SHORTS) && !p.has(ActivationLayout.NIBBLE_PAIRS));
        Kernel q40 = Kernels.Q4_0.forProduct(512, 64, 1);
        p.prepare(q40.activationFormat(), q40.productLayouts(64, 1), x, 512, 1);
        assertTrue(p.has(ActivationLayout.NIBBLE_PAIRS) && !p.has(ActivationLayout.TOKEN_GROUPS)
                && !p.has(ActivationLayout.SHORTS));
        p.prepare(q40.activationFormat(), q40.productLayouts(64, 4), x, 512, 4);
        assertTrue(p.has(ActivationLayout.TOKEN_GROUPS) && !p.has(ActivationLayout.NIBBLE_PAIRS)
                && !p.has(ActivationLayout.SHORTS), "64 rows fill the tiles: no leftover rows need the dot's layout");
        p.prepare(q40.activationFormat(), q40.productLayouts(66, 4), x, 512, 4);
        assertTrue(p.has(ActivationLayout.TOKEN_GROUPS) && p.has(ActivationLayout.SHORTS), "66 rows leave two over");
    }
}
