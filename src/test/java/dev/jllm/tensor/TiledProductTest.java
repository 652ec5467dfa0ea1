package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The tiled matrix products ({@link Kernel#productRows}, what {@link MatMul} runs for a kernel with a row tile) give
 * the same bits as the kernel's dot product of each (row, vector) pair, for every type and shapes around the tile
 * sizes: rows and batches that fill tiles and that leave a partial tile, one vector (decoding) and batches of 2 to 40
 * (not multiples of the 16-vector groups: padded lanes). So a token's result never depends on its batch: the batch
 * invariance test states it directly. {@link MatMul} prepares only the activation layouts the kernel names, so a tile
 * that read another would fail here. Random data from a fixed seed per test ({@link dev.jllm.TestSeeds}; the seed is
 * in the message).
 */
class TiledProductTest {

    @Test
    void tiledProductsMatchTheDotProductsBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("TiledProductTest.tiledProductsMatchTheDotProductsBitForBit");
        Random random = new Random(seed);
        for (BlockSamples.Type c : BlockSamples.Type.values()) {
            for (int rows : new int[] {16, 40, 53}) {
                for (int batch : new int[] {1, 2, 3, 7, 15, 17, 31, 33, 40}) {
                    int n = c.blockSize() * (1 + random.nextInt(c.blockSize() == 32 ? 9 : 3));
                    check(c, rows, n, batch, random, "seed " + seed);
                }
            }
        }
    }

    /** F16 rows go two at a time and the vectors three at a time: odd row counts and batches not a multiple of 3. */
    @Test
    void halfPrecisionTilesMatchTheDotProductsBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("TiledProductTest.halfPrecisionTilesMatchTheDotProductsBitForBit");
        Random random = new Random(seed);
        for (int rows : new int[] {1, 2, 7, 16}) {
            for (int batch : new int[] {2, 3, 4, 5, 17, 40}) {
                int n = 32 * (1 + random.nextInt(9)) + (random.nextBoolean() ? 0 : 1 + random.nextInt(31));
                check(GgmlType.F16, rows, n, batch, random, "seed " + seed, data -> {
                    for (long i = 0; i < (long) n * rows; i++) {
                        data.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i,
                                Float.floatToFloat16((float) random.nextGaussian()));
                    }
                });
            }
        }
    }

    /**
     * Q4_0 decoding (one vector, rows a multiple of 8: the 16-bit, 16-rows-at-a-time path, with its last partial tile
     * and the pairs at the end of the data summed one value at a time): random blocks, then the extremes of the 16-bit
     * block sums (all nibbles 0 or 15 against activations quantized to +-127: sums of +-32512 and -+28448), then an
     * infinite activation (a quantized -128, which the 16-bit path declines).
     */
    @Test
    void q4_0DecodeMatchesTheDotProductsBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("TiledProductTest.q4_0DecodeMatchesTheDotProductsBitForBit");
        Random random = new Random(seed);
        for (int rows : new int[] {16, 40, 48}) {
            for (int n : new int[] {64, 192, 2048, 96}) {
                check(BlockSamples.Type.Q4_0, rows, n, 1, random, "seed " + seed);
                for (int nibble : new int[] {0, 15}) {
                    for (float sign : new float[] {1f, -1f}) {
                        checkQ4Decode(rows, n, nibble, sign, false, random, "seed " + seed);
                    }
                }
                checkQ4Decode(rows, n, 3, 1f, true, random, "seed " + seed);
            }
        }
    }

    /**
     * F16 rows widened once (a plain float16ToFloat loop) then summed in ggml_vec_dot_f16's order, any batch: random
     * halves of every kind (subnormals, infinities) but NaN.
     */
    @Test
    void f16ProductsMatchTheDotProductsBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("TiledProductTest.f16ProductsMatchTheDotProductsBitForBit");
        Random random = new Random(seed);
        for (int rows : new int[] {1, 7, 40}) {
            for (int n : new int[] {64, 100, 2048, 2063}) {
                for (int batch : new int[] {1, 3}) {
                    try (Arena arena = Arena.ofShared()) {
                        MemorySegment data = arena.allocate(2L * n * rows);
                        for (long i = 0; i < (long) n * rows; i++) {
                            short h;
                            do { // any half but NaN (whose payload the two widenings may quiet differently)
                                h = (short) random.nextInt(1 << 16);
                            } while (Float.isNaN(Float.float16ToFloat(h)));
                            data.set(KernelVectors.SHORT_LE, 2 * i, h);
                        }
                        Tensor w = new Tensor("w", GgmlType.F16, new long[] {n, rows}, data);
                        float[] x = new float[n * batch];
                        for (int i = 0; i < x.length; i++) {
                            x[i] = (float) random.nextGaussian();
                        }
                        float[] out = new float[rows * batch];
                        MatMul.apply(w, x, batch, out, new PreparedActivations());
                        Kernel kernel = w.kernel().forProduct(n, rows, batch);
                        PreparedActivations p = new PreparedActivations()
                                .prepare(kernel.activationFormat(), x, n, batch);
                        for (int b = 0; b < batch; b++) {
                            for (int r = 0; r < rows; r++) {
                                float want = kernel.dotPrepared(data, (long) r * n, n, p, b * n);
                                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[b * rows + r]),
                                        "seed " + seed + ", F16 " + n + " x " + rows + " batch " + batch + ": row " + r
                                                + " vector " + b);
                            }
                        }
                    }
                }
            }
        }
    }

    private static void checkQ4Decode(int rows, int n, int nibble, float sign, boolean infinity, Random random,
            String where) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment data = arena.allocate(GgmlType.Q4_0.bytesFor((long) n * rows));
            for (long b = 0; b < (long) n * rows / 32; b++) {
                long at = b * GgmlType.Q4_0.blockBytes;
                data.set(KernelVectors.SHORT_LE, at, Float.floatToFloat16((float) (0.5 + random.nextDouble())));
                for (int j = 0; j < 16; j++) {
                    data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (nibble | nibble << 4));
                }
            }
            Tensor w = new Tensor("w", GgmlType.Q4_0, new long[] {n, rows}, data);
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = sign * (1f + (float) random.nextDouble() * 1e-3f * (i % 32 == 0 ? 0 : 1));
            }
            if (infinity) {
                x[random.nextInt(n)] = Float.NEGATIVE_INFINITY;
            }
            float[] out = new float[rows];
            MatMul.apply(w, x, 1, out, new PreparedActivations());
            Kernel kernel = w.kernel().forProduct(n, rows, 1);
            PreparedActivations p = new PreparedActivations().prepare(kernel.activationFormat(), x, n, 1);
            for (int r = 0; r < rows; r++) {
                float want = kernel.dotPrepared(data, (long) r * n, n, p, 0);
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[r]),
                        where + ", nibbles " + nibble + " sign " + sign + " infinity " + infinity + ", " + n + " x "
                                + rows + ": row " + r + " (" + want + " vs " + out[r] + ")");
            }
        }
    }

    private static void check(BlockSamples.Type c, int rows, int n, int batch, Random random, String where) {
        check(c.ggml, rows, n, batch, random, where, data -> BlockSamples.fill(c, random, data, n * rows / c.blockSize()));
    }

    /**
     * A token's products are the same bits alone (decoding), at any place of a batch of any size, and in a batch
     * holding several sequences: for every type jllm runs, float types included.
     */
    @Test
    void aTokensResultDoesNotDependOnItsBatch() {
        long seed = dev.jllm.TestSeeds.seed("TiledProductTest.aTokensResultDoesNotDependOnItsBatch");
        Random random = new Random(seed);
        for (GgmlType type : GgmlType.values()) {
            if (type.kernel() == null || type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16) {
                continue;
            }
            checkInvariance(type, random, "seed " + seed);
        }
        for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16}) {
            checkInvariance(type, random, "seed " + seed);
        }
    }

    private static void checkInvariance(GgmlType type, Random random, String where) {
        int rows = 40 + random.nextInt(9);
        int n = type.blockSize() == 256 ? 512 : 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment data = arena.allocate(type.bytesFor((long) n * rows));
            BlockSamples.Type model = BlockSamples.of(type);
            if (model != null) {
                BlockSamples.fill(model, random, data, n * rows / type.blockSize());
            } else {
                for (long i = 0; i < (long) n * rows; i++) {
                    FloatKernelTest.Case.valueOf(type.name()).write(random, data, i);
                }
            }
            Tensor w = new Tensor("w", type, new long[] {n, rows}, data);
            float[] token = BlockKernelTest.activations(random, n);
            float[] alone = new float[rows];
            MatMul.apply(w, token, 1, alone, new PreparedActivations());
            for (int batch : new int[] {2, 5, 16, 17, 33, 64}) {
                int place = random.nextInt(batch);
                float[] x = BlockKernelTest.activations(random, n * batch);
                System.arraycopy(token, 0, x, place * n, n);
                float[] out = new float[rows * batch];
                MatMul.apply(w, x, batch, out, new PreparedActivations());
                for (int r = 0; r < rows; r++) {
                    assertEquals(Float.floatToRawIntBits(alone[r]), Float.floatToRawIntBits(out[place * rows + r]),
                            where + ", " + type + ": row " + r + " alone " + alone[r] + ", at " + place + " of a batch of "
                                    + batch + " " + out[place * rows + r]);
                }
            }
        }
    }

    private static void check(GgmlType type, int rows, int n, int batch, Random random, String where,
            java.util.function.Consumer<MemorySegment> fill) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment data = arena.allocate(type.bytesFor((long) n * rows));
            fill.accept(data);
            Tensor w = new Tensor("w", type, new long[] {n, rows}, data);
            float[] x = new float[n * batch];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian() * (random.nextInt(10) == 0 ? 20f : 1f);
            }
            float[] out = new float[rows * batch];
            MatMul.apply(w, x, batch, out, new PreparedActivations()); // buffers of exact size: a read past them fails
            Kernel kernel = w.kernel().forProduct(n, rows, batch);
            PreparedActivations p = new PreparedActivations().prepare(kernel.activationFormat(), x, n, batch);
            for (int b = 0; b < batch; b++) {
                for (int r = 0; r < rows; r++) {
                    float want = kernel.dotPrepared(data, (long) r * n, n, p, b * n);
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[b * rows + r]),
                            where + ", " + type + " " + n + " x " + rows + " batch " + batch + ": row " + r
                                    + " vector " + b);
                }
            }
        }
    }
}
