package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The repacked Q4_0 and Q8_0 products ({@link Repacking}, {@link RepackedKernel}) on fresh random data at every run
 * (the seed is in each message; {@code -Djllm.test.seed=N} replays one): row counts that are not multiples of the
 * 32-row group, row lengths that are not multiples of 64 or of the 32-block chunks, batches of 1 to 9 and 37, extreme
 * scales (fp16 maximum, subnormal, zero, negative) and extreme quants (Q4_0 nibbles all 0 or all 15, Q8_0 quants all
 * -128 or 127, against activations quantized to +-127).
 *
 * <p>What must hold, and why:
 * <ul>
 * <li>Bit for bit the floats of {@link BlockKernel} in {@link BlockKernel.SumOrder#BLOCK_SUMS} over the original
 * bytes (and of the repacked kernel's own one-value-at-a-time {@code dotPrepared}), whatever the batch: the integer
 * block sums are exact in any layout (|sum| <= 32512 in 16-bit lanes, see the kernels), and the float steps
 * {@code acc = fma((float) isum, d_w * d_x, acc)} are the same, in block order. That is batch invariance too: a
 * vector's results do not depend on its neighbours.</li>
 * <li>Against the exact value in float64, {@code E = sum_b d_w,b * d_x,b * isum_b} (same quantized activations):
 * the float product p_b = fl(d_w d_x) has relative error <= u = 2^-24; each of the n FMAs rounds once, relative
 * <= u, and the error of step k carries through the later ones. With M = sum_b |d_w d_x isum_b|, the standard
 * recursive-summation bound gives |acc - E| <= ((1 + u)^(n+1) - 1) M <= (n + 1) u M (1 + (n + 1) u), which the test
 * uses with the factor 1.001 (n <= 40 here), plus n subnormal steps of 2^-149 * 32768 each in case a product
 * underflows.</li>
 * <li>The direct path ({@code --no-repack}: ggml's orders, Q8_0 with eight lane accumulators and a final sum of
 * eight) is within its own bound of E: at most n + 4 roundings on any path of the sum (the lane FMAs, then three
 * levels of the sum of eight), so |direct - E| <= (n + 5) u M' (1.001), M' the same sum over the absolute values of the
 * products (M' >= M, since lane sums split a block's sum); so the two paths agree within the sum of the bounds.</li>
 * <li>Dequantized rows of the repacked copy equal the original's exactly (one float product q * d each).</li>
 * </ul>
 */
class RepackedKernelTest {

    private static final double U = 0x1p-24;

    private static long seed() {
        Long replay = Long.getLong("jllm.test.seed");
        return replay != null ? replay : System.nanoTime();
    }

    @Test
    void repackedProductsEqualTheBlockSumOrderAndStayWithinTheFloat64Bound() {
        assumeTrue(RepackedKernel.AVAILABLE, "needs AVX-512");
        long seed = seed();
        Random random = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            for (GgmlType type : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
                for (int rows : new int[] {1, 31, 33, 64, 70}) {
                    for (int cols : new int[] {32, 96, 1056 + 32 * random.nextInt(4)}) {
                        for (Extreme extreme : Extreme.values()) {
                            Tensor w = randomMatrix(arena, type, rows, cols, extreme, random);
                            Tensor r = Repacking.repack(w, arena);
                            int batch = random.nextInt(10) == 0 ? 37 : 1 + random.nextInt(9);
                            float[] x = randomActivations(batch * cols, extreme, random);
                            check(w, r, x, batch, "seed " + seed + ", " + type + " " + rows + "x" + cols + " batch "
                                    + batch + " " + extreme);
                        }
                    }
                }
            }
        }
    }

    /**
     * Prompt-sized batches ({@link RepackedPrefill}: register tiles of 12 tokens over weights decoded to floats): the
     * same checks, among them bit for bit the batch-of-one (decode) path for every token, with batches around the
     * tile width and its multiples, and a chunk count that leaves a partial chunk (row lengths past 32 blocks).
     */
    @Test
    void prefillTilesEqualTheDecodePathTokenByToken() {
        assumeTrue(RepackedKernel.AVAILABLE, "needs AVX-512");
        long seed = seed();
        Random random = new Random(seed);
        int[] batches = {9, 11, 12, 13, 23, 24, 25, 12 + random.nextInt(119), 130};
        try (Arena arena = Arena.ofShared()) {
            for (GgmlType type : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
                for (int rows : new int[] {1, 33, 70}) {
                    for (int cols : new int[] {32, 1056 + 32 * random.nextInt(4)}) {
                        for (Extreme extreme : Extreme.values()) {
                            Tensor w = randomMatrix(arena, type, rows, cols, extreme, random);
                            Tensor r = Repacking.repack(w, arena);
                            int batch = batches[random.nextInt(batches.length)];
                            float[] x = randomActivations(batch * cols, extreme, random);
                            check(w, r, x, batch, "seed " + seed + ", " + type + " " + rows + "x" + cols + " batch "
                                    + batch + " " + extreme);
                        }
                    }
                }
            }
        }
    }

    @Test
    void repackedRowsDequantizeAsTheOriginal() {
        assumeTrue(RepackedKernel.AVAILABLE, "needs AVX-512");
        long seed = seed();
        Random random = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            for (GgmlType type : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
                Tensor w = randomMatrix(arena, type, 45, 160, Extreme.NONE, random);
                Tensor r = Repacking.repack(w, arena);
                float[] expected = w.toFloatArray();
                float[] actual = r.toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                            "seed " + seed + ", " + type + " element " + i);
                }
                assertEquals(Repacking.bytes(w), r.byteSize());
                assertEquals(0, r.data().address() % 64, "64-byte aligned");
            }
        }
    }

    /** What is pushed to its limit in one case. */
    enum Extreme {
        NONE, LARGEST_QUANTS, SMALLEST_QUANTS, EXTREME_SCALES
    }

    private static void check(Tensor w, Tensor r, float[] x, int batch, String where) {
        int rows = Math.toIntExact(w.rowCount());
        int cols = w.rowLength();
        int blocks = cols / 32;
        float[] out = new float[rows * batch];
        MatMul.apply(r, x, batch, out, new PreparedActivations());
        PreparedActivations p = new PreparedActivations().prepare(ActivationFormat.Q8_0, x, cols, batch);
        Kernel reference = w.type() == GgmlType.Q4_0 ? Kernels.Q4_0_REPACKED
                : new BlockKernel(new Q8_0Blocks(), ActivationFormat.Q8_0, BlockKernel.SumOrder.BLOCK_SUMS,
                        BlockKernel.MinimumSum.NONE, null, null);
        float[] direct = new float[rows * batch];
        MatMul.apply(w, x, batch, direct, new PreparedActivations());
        for (int v = 0; v < batch; v++) {
            float[] alone = new float[rows];
            MatMul.apply(r, java.util.Arrays.copyOfRange(x, v * cols, (v + 1) * cols), 1, alone,
                    new PreparedActivations());
            for (int row = 0; row < rows; row++) {
                String at = where + ", row " + row + ", vector " + v;
                float got = out[v * rows + row];
                float expected = reference.dotPrepared(w.data(), (long) row * cols, cols, p, v * cols);
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(got), at + ": " + expected
                        + " (block-sum order) vs " + got);
                float scalar = r.kernel().dotPrepared(r.data(), (long) row * cols, cols, p, v * cols);
                assertEquals(Float.floatToRawIntBits(scalar), Float.floatToRawIntBits(got), at + " (scalar)");
                assertEquals(Float.floatToRawIntBits(alone[row]), Float.floatToRawIntBits(got), at
                        + ": depends on the batch");
                double exact = 0;
                double magnitude = 0;
                double absoluteProducts = 0;
                for (int b = 0; b < blocks; b++) {
                    double d = scaleOf(w, row, b);
                    double dx = p.scales()[v * blocks + b];
                    long isum = 0;
                    long absolute = 0;
                    for (int i = 0; i < 32; i++) {
                        long product = (long) quantOf(w, row, b * 32 + i) * p.quants()[v * cols + b * 32 + i];
                        isum += product;
                        absolute += Math.abs(product);
                    }
                    exact += d * dx * isum;
                    magnitude += Math.abs(d * dx * isum);
                    absoluteProducts += Math.abs(d * dx) * absolute;
                }
                double subnormal = blocks * 0x1p-149 * 32768;
                double bound = (blocks + 1) * U * magnitude * 1.001 + subnormal;
                assertTrue(Math.abs(got - exact) <= bound, at + ": " + got + " vs exact " + exact + ", bound " + bound);
                double directBound = (blocks + 5) * U * absoluteProducts * 1.001 + subnormal;
                float d = direct[v * rows + row];
                assertTrue(Math.abs(d - exact) <= directBound, at + ": direct " + d + " vs exact " + exact);
                assertTrue(Math.abs(d - got) <= bound + directBound, at + ": direct " + d + " vs repacked " + got);
            }
        }
    }

    private static float scaleOf(Tensor w, int row, int block) {
        long blockBytes = w.type() == GgmlType.Q4_0 ? 18 : 34;
        long at = ((long) row * (w.rowLength() / 32) + block) * blockBytes;
        return Float.float16ToFloat(w.data().get(KernelVectors.SHORT_LE, at));
    }

    private static int quantOf(Tensor w, int row, int i) {
        int blocks = w.rowLength() / 32;
        if (w.type() == GgmlType.Q4_0) {
            long at = ((long) row * blocks + i / 32) * 18 + 2 + (i % 32) % 16;
            int b = w.data().get(ValueLayout.JAVA_BYTE, at) & 0xFF;
            return ((i % 32) < 16 ? b & 15 : b >>> 4) - 8;
        }
        return w.data().get(ValueLayout.JAVA_BYTE, ((long) row * blocks + i / 32) * 34 + 2 + i % 32);
    }

    static Tensor randomMatrix(Arena arena, GgmlType type, int rows, int cols, Extreme extreme, Random random) {
        int blocks = cols / 32;
        int blockBytes = type == GgmlType.Q4_0 ? 18 : 34;
        MemorySegment data = arena.allocate((long) rows * blocks * blockBytes);
        for (long block = 0; block < (long) rows * blocks; block++) {
            long at = block * blockBytes;
            data.set(KernelVectors.SHORT_LE, at, scale(extreme, random));
            boolean high = random.nextBoolean();
            for (int i = 2; i < blockBytes; i++) {
                byte q = switch (extreme) {
                    case LARGEST_QUANTS -> type == GgmlType.Q4_0 ? (byte) (high ? 0xFF : 0x00) : (byte) (high ? 127 : -128);
                    case SMALLEST_QUANTS -> (byte) (type == GgmlType.Q4_0 ? 0x88 : 0);
                    default -> (byte) random.nextInt(256);
                };
                data.set(ValueLayout.JAVA_BYTE, at + i, q);
            }
        }
        return new Tensor("w", type, new long[] {cols, rows}, data);
    }

    private static short scale(Extreme extreme, Random random) {
        if (extreme == Extreme.EXTREME_SCALES) {
            return switch (random.nextInt(6)) {
                case 0 -> (short) 0x7BFF; // 65504, the largest half
                case 1 -> (short) 0xFBFF; // -65504
                case 2 -> (short) 0x0001; // the smallest subnormal
                case 3 -> (short) 0x8000; // -0
                case 4 -> (short) 0x03FF; // the largest subnormal
                default -> Float.floatToFloat16((float) random.nextGaussian() * 0.02f);
            };
        }
        return Float.floatToFloat16((float) random.nextGaussian() * 0.02f);
    }

    private static float[] randomActivations(int n, Extreme extreme, Random random) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (extreme) {
                // every value of a block at the same magnitude quantizes to +-127
                case LARGEST_QUANTS -> (i / 32 % 2 == 0 ? 1f : -1f) * 3.5f;
                case EXTREME_SCALES -> (float) random.nextGaussian() * (i / 32 % 3 == 0 ? 1e4f : 1e-3f);
                default -> (float) random.nextGaussian();
            };
        }
        return x;
    }
}
