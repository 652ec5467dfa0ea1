package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The tiled matrix products ({@link Kernel#productRows}, what {@link MatMul} runs for a kernel with a row tile) give
 * the same bits as the kernel's dot product of each (row, vector) pair, for shapes around the tile sizes: rows and
 * batches that fill tiles and that leave a partial tile, one vector (decoding) and batches of 2 to 40 (not multiples of the 16-vector groups: padded lanes). Random data,
 * fresh each run (the seed is in the message).
 */
class TiledProductTest {

    @Test
    void tiledProductsMatchTheDotProductsBitForBit() {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        for (BlockKernelTest.Case c : BlockKernelTest.Case.values()) {
            for (int rows : new int[] {16, 40, 53}) {
                for (int batch : new int[] {1, 2, 3, 7, 15, 17, 31, 33, 40}) {
                    int n = 32 * (1 + random.nextInt(9));
                    check(c.type, rows, n, batch, random, "seed " + seed, data -> {
                        float[] ignored = new float[n * rows];
                        for (int b = 0; b < n * rows / 32; b++) {
                            c.packer.pack(random, data, (long) b * c.type.blockBytes, ignored, new float[n * rows],
                                    b * 32);
                        }
                    });
                }
            }
        }
    }

    /** F16 rows go two at a time and the vectors three at a time: odd row counts and batches not a multiple of 3. */
    @Test
    void halfPrecisionTilesMatchTheDotProductsBitForBit() {
        long seed = System.nanoTime();
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
