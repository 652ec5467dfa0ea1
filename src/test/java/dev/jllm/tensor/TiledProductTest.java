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
                    check(c, rows, 32 * (1 + random.nextInt(9)), batch, random, "seed " + seed);
                }
            }
        }
    }

    private static void check(BlockKernelTest.Case c, int rows, int n, int batch, Random random, String where) {
        GgmlType type = c.type;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment data = arena.allocate(type.bytesFor((long) n * rows));
            float[] ignored = new float[n * rows];
            for (int b = 0; b < n * rows / 32; b++) {
                c.packer.pack(random, data, (long) b * type.blockBytes, ignored, new float[n * rows], b * 32);
            }
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
