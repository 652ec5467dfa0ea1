package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.tensor.BlockSamples.Block;
import dev.jllm.tensor.BlockSamples.Type;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every block type against blocks the test packs itself ({@link BlockSamples}: random integers, extreme quants and
 * scales, ggml's layouts): dequantization exact, the float dot product within float rounding of a float64 sum, and the
 * dot product over prepared activations bit for bit equal to a scalar emulation of ggml's x86 summation order
 * (written here from ggml's kernels) and within its derived rounding bound of the exact float64 value. Data is random
 * from a fixed seed per test ({@link dev.jllm.TestSeeds}: -Djllm.test.randomSeed=true draws fresh ones; the seed is in
 * every message); rows are 1, 2, 3, 7 and 33 blocks (plus 300 for the 32-value types), so that the decoders' runs of
 * 8192 values end inside a row, and one byte off alignment.
 */
class BlockKernelTest {

    /** The unit roundoff of float. */
    private static final double U = 0x1p-24;

    @FunctionalInterface
    interface Dot {
        float dot(MemorySegment data, long first, int count, float[] x, int xOffset);
    }

    @FunctionalInterface
    interface Dequantize {
        void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset);
    }

    static short randomHalf(Random random) {
        return BlockSamples.randomHalf(random);
    }

    private static int[] blockCounts(Type t) {
        return t.blockSize() == 32 ? new int[] {1, 2, 3, 7, 33, 300} : new int[] {1, 2, 3, 7, 33};
    }

    /**
     * Dequantization gives gguf-py's values bit for bit. The float dot product sums the dequantized values times x with
     * FMAs in 16 lanes, each lane adding at most n / 16 terms, then four pairwise levels: its error is at most
     * (n / 16 + 4) u sum|w x| (u = 2^-24); the test allows (n / 16 + 6) u sum|w x|.
     */
    @ParameterizedTest
    @EnumSource(Type.class)
    void dequantizationIsExactAndTheFloatDotIsWithinRounding(Type t) {
        long seed = dev.jllm.TestSeeds.seed("BlockKernelTest.dequantizationIsExactAndTheFloatDotIsWithinRounding");
        Random random = new Random(seed);
        Kernel kernel = t.ggml.kernel();
        assertSame(Kernels.forType(t.ggml), kernel);
        for (int round = 0; round < 3; round++) {
            for (int blocks : blockCounts(t)) {
                int n = blocks * t.blockSize();
                int rows = 3;
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocate(1 + t.ggml.bytesFor((long) n * rows)).asSlice(1);
                    Block[] all = BlockSamples.fill(t, random, data, blocks * rows);
                    float[] values = new float[n * rows + 3];
                    kernel.dequantize(data, 0, n * rows, values, 3);
                    Tensor tensor = new Tensor("t", t.ggml, new long[] {n, rows}, data);
                    for (int row = 0; row < rows; row++) {
                        float[] rowValues = new float[n];
                        tensor.dequantizeRow(row, rowValues, 0);
                        float[] x = new float[n + 5];
                        for (int i = 0; i < x.length; i++) {
                            x[i] = (float) random.nextGaussian();
                        }
                        double exact = 0;
                        double magnitude = 0;
                        for (int i = 0; i < n; i++) {
                            Block b = all[row * blocks + i / t.blockSize()];
                            float want = b.expected(i % t.blockSize());
                            String where = "seed " + seed + ", " + t + " row " + row + " of " + blocks + " blocks, value " + i;
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(rowValues[i]), where);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(values[3 + row * n + i]),
                                    where + " (whole tensor)");
                            exact += (double) want * x[2 + i];
                            magnitude += Math.abs((double) want * x[2 + i]);
                        }
                        float dot = tensor.dotRow(row, x, 2);
                        double bound = (n / 16.0 + 6) * U * magnitude + Float.MIN_NORMAL;
                        assertTrue(Math.abs(dot - exact) <= bound, "seed " + seed + ", " + t + " row " + row + " of "
                                + blocks + " blocks: dot " + dot + ", float64 " + exact + ", bound " + bound);
                    }
                }
            }
        }
    }

    /**
     * The dot product over prepared activations, three ways:
     * <ol>
     * <li>bit for bit the scalar emulation {@link #ggmlOrder} of ggml's x86 kernel;</li>
     * <li>within rounding of the exact value it stands for, sum over blocks of d_w d_x sum(scale q a) (minus
     * dmin_w d_x sum(min S), plus m_w s_x for Q8_1): the lane sums are exact integers, each block adds one rounded
     * product d_w d_x and one rounded FMA per lane, the eight lanes and the minimum terms then take at most four
     * additions, so the error is below (blocks + 6) u times the sum of the terms' magnitudes;</li>
     * <li>within the quantization error of the activations from the float sum over the float activations:
     * |x - a d_x| is at most |d_x| (1/2 + 1e-4) for Q8_K (d = 1 / iscale), half a step of the unrounded scale plus
     * the fp16 rounding of the scale for Q8_0 / Q8_1 (and Q8_1's fp16 s).</li>
     * </ol>
     */
    @ParameterizedTest
    @EnumSource(Type.class)
    void preparedDotIsGgmlsOrderBitForBitAndWithinItsBound(Type t) {
        long seed = dev.jllm.TestSeeds.seed("BlockKernelTest.preparedDotIsGgmlsOrderBitForBitAndWithinItsBound");
        Random random = new Random(seed);
        Kernel kernel = t.ggml.kernel();
        ActivationFormat format = kernel.activationFormat();
        assertEquals(t.blockSize(), format.blockSize(), t + " activation blocks");
        PreparedActivations prepared = new PreparedActivations();
        int batch = 2;
        for (int round = 0; round < 3; round++) {
            for (int blocks : blockCounts(t)) {
                int n = blocks * t.blockSize();
                int rows = 2;
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment data = arena.allocate(1 + t.ggml.bytesFor((long) n * rows)).asSlice(1);
                    Block[] all = BlockSamples.fill(t, random, data, blocks * rows);
                    float[] x = activations(random, n * batch);
                    prepared.prepare(format, kernel.dotLayouts(), x, n, batch);
                    for (int row = 0; row < rows; row++) {
                        for (int v = 0; v < batch; v++) {
                            String where = "seed " + seed + ", " + t + " row " + row + " vector " + v + " of " + blocks
                                    + " blocks";
                            float got = kernel.dotPrepared(data, (long) row * n, n, prepared, v * n);
                            float want = ggmlOrder(all, row * blocks, blocks, prepared, v * n);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                                    where + ": kernel " + got + ", ggml's order " + want);
                            checkBounds(all, row * blocks, blocks, prepared, x, v * n, got, where);
                        }
                    }
                }
            }
        }
    }

    /** Gaussian activations of mixed magnitudes, some all-zero blocks of 32 and of 256, now and then a huge value. */
    static float[] activations(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (random.nextGaussian() * (random.nextInt(8) == 0 ? 20 : 1));
            if (random.nextInt(500) == 0) {
                x[i] = random.nextBoolean() ? 3e4f : -3e4f;
            }
        }
        for (int b = 0; b < n / 32; b++) {
            if (random.nextInt(12) == 0) {
                java.util.Arrays.fill(x, b * 32, b * 32 + 32, 0f);
            }
        }
        if (n >= 256 && random.nextInt(4) == 0) {
            java.util.Arrays.fill(x, 0, 256, 0f);
        }
        return x;
    }

    /**
     * ggml's x86 dot product of blocks {@code first ..} with the prepared activations from {@code at}, as scalar code:
     * eight int lanes (lane k: values 4k .. 4k+3 of every 32), {@code acc_k = fma(lane, d_w * d_x, acc_k)} per block,
     * {@code hsum_float_8}; the minimums as ggml_vec_dot_q4_1_q8_1 (Q4_1, Q5_1), _q2_K_q8_K, _q4_K_q8_K and _q5_K_q8_K
     * add them.
     */
    static float ggmlOrder(Block[] blocks, int first, int count, PreparedActivations x, int at) {
        float[] acc = new float[8];
        float[] minLanes = new float[4];
        float mins = 0f;
        for (int k = 0; k < count; k++) {
            Block b = blocks[first + k];
            Type t = b.type();
            int size = t.blockSize();
            int base = at + k * size;
            float dx = x.scales()[base / size];
            float d = b.dFloat() * dx;
            int[] lanes = new int[8];
            for (int i = 0; i < size; i++) {
                lanes[(i % 32) / 4] += b.scaleOf(i) * b.quant(i) * x.quants()[base + i];
            }
            float dmin = -(dx * b.dminFloat());
            switch (t.mins) {
                case NONE -> {
                }
                case ADDED -> mins += b.dminFloat() * x.sums()[base / size];
                case IN_LANES -> {
                    for (int m = 0; m < 8; m++) {
                        int prod = b.min()[2 * m] * sum(x, base + 32 * m, 16) + b.min()[2 * m + 1] * sum(x, base + 32 * m + 16, 16);
                        acc[m] = Math.fma((float) prod, dmin, acc[m]);
                    }
                }
                case FOUR_LANES -> {
                    for (int m = 0; m < 4; m++) {
                        int prod = b.min()[2 * m] * sum(x, base + 64 * m, 32) + b.min()[2 * m + 1] * sum(x, base + 64 * m + 32, 32);
                        minLanes[m] = Math.fma((float) prod, dmin, minLanes[m]);
                    }
                }
                case ONE_APART -> {
                    int msum = 0;
                    for (int j = 0; j < 8; j++) {
                        msum += b.min()[j] * sum(x, base + 32 * j, 32);
                    }
                    mins = Math.fma(dmin, (float) msum, mins);
                }
            }
            for (int m = 0; m < 8; m++) {
                acc[m] = Math.fma((float) lanes[m], d, acc[m]);
            }
        }
        float result = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        return switch (blocks[first].type().mins) {
            case NONE, IN_LANES -> result;
            case ADDED, ONE_APART -> result + mins;
            case FOUR_LANES -> result + ((minLanes[0] + minLanes[2]) + (minLanes[1] + minLanes[3]));
        };
    }

    private static int sum(PreparedActivations x, int from, int n) {
        int s = 0;
        for (int i = from; i < from + n; i++) {
            s += x.quants()[i];
        }
        return s;
    }

    private static void checkBounds(Block[] blocks, int first, int count, PreparedActivations x, float[] xf, int at,
            float got, String where) {
        double exact = 0;
        double magnitude = 0;
        double fromFloats = 0;
        double quantization = 0;
        for (int k = 0; k < count; k++) {
            Block b = blocks[first + k];
            Type t = b.type();
            int size = t.blockSize();
            int base = at + k * size;
            double dx = x.scales()[base / size];
            double dw = b.dFloat();
            long integer = 0;
            long integerMagnitude = 0;
            double step = quantizationStep(x, xf, base, size);
            for (int i = 0; i < size; i++) {
                long term = (long) b.scaleOf(i) * b.quant(i) * x.quants()[base + i];
                integer += term;
                integerMagnitude += Math.abs(term);
                double w = b.expected(i);
                fromFloats += w * xf[base + i];
                double error = step * (0.5 + 1e-4) + Math.abs(x.quants()[base + i]) * Math.abs(step - Math.abs(dx));
                quantization += Math.abs(w) * error + 2 * U * Math.abs(w * xf[base + i]);
            }
            exact += dw * dx * integer;
            magnitude += Math.abs(dw * dx) * integerMagnitude;
            if (t.mins == BlockSamples.Mins.ADDED) {
                double s = x.sums()[base / size];
                exact += b.dminFloat() * s;
                magnitude += Math.abs(b.dminFloat() * s);
                // The s of Q8_1 is fp16(d sum(q)) with the unrounded d: off from sum(x) by the values' errors, d's and s's.
                double d = Math.abs(step);
                int sumQ = sum(x, base, size);
                double blockError = 0;
                for (int i = 0; i < size; i++) {
                    blockError += d * (0.5 + 1e-4) + Math.abs(x.quants()[base + i]) * Math.abs(d - Math.abs(dx));
                }
                quantization += Math.abs(b.dminFloat()) * (blockError + Math.abs(sumQ) * Math.abs(d - Math.abs(dx))
                        + Math.abs(d * sumQ) * 0x1p-11 + 1e-30);
            } else if (t.mins != BlockSamples.Mins.NONE) {
                long msum = 0;
                long msumMagnitude = 0;
                for (int i = 0; i < size; i++) {
                    msum += (long) b.minOf(i) * x.quants()[base + i];
                    msumMagnitude += Math.abs((long) b.minOf(i) * x.quants()[base + i]);
                }
                exact -= b.dminFloat() * dx * msum;
                magnitude += Math.abs(b.dminFloat() * dx) * msumMagnitude;
            }
        }
        double bound = (count + 6) * U * magnitude + count * Float.MIN_NORMAL;
        assertTrue(Math.abs(got - exact) <= bound,
                where + ": kernel " + got + ", exact " + exact + ", bound " + bound);
        assertTrue(Math.abs(got - fromFloats) <= quantization + bound,
                where + ": kernel " + got + ", float activations " + fromFloats + ", bound " + (quantization + bound));
    }

    /**
     * The unrounded activation step of the block at {@code base}: amax / 127 for Q8_0 / Q8_1 (stored as fp16), the
     * float d = 1 / iscale itself for Q8_K.
     */
    private static double quantizationStep(PreparedActivations x, float[] xf, int base, int size) {
        if (x.format() == ActivationFormat.Q8_K) {
            return Math.abs(x.scales()[base / size]);
        }
        double amax = 0;
        for (int i = base; i < base + size; i++) {
            amax = Math.max(amax, Math.abs(xf[i]));
        }
        return amax / 127;
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void rejectsRangesThatAreNotWholeBlocksAndActivationsOfAnotherFormat(Type t) {
        int size = t.blockSize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(4L * t.ggml.blockBytes);
            float[] x = new float[4 * size];
            Kernel kernel = t.ggml.kernel();
            assertThrows(IllegalArgumentException.class, () -> kernel.dot(data, 16, size, x, 0));
            assertThrows(IllegalArgumentException.class, () -> kernel.dot(data, 0, size + 16, x, 0));
            assertThrows(IllegalArgumentException.class, () -> kernel.dequantize(data, 0, size + 8, x, 0));
            ActivationFormat other = kernel.activationFormat() == ActivationFormat.Q8_1 ? ActivationFormat.Q8_0
                    : ActivationFormat.Q8_1;
            PreparedActivations wrong = new PreparedActivations().prepare(other, x, 4 * size, 1);
            assertThrows(IllegalArgumentException.class, () -> kernel.dotPrepared(data, 0, size, wrong, 0));
            PreparedActivations right = new PreparedActivations().prepare(kernel.activationFormat(), x, 4 * size, 1);
            assertThrows(IllegalArgumentException.class, () -> kernel.dotPrepared(data, 0, size, right, 16));
            PreparedActivations bare = new PreparedActivations().prepare(kernel.activationFormat(),
                    java.util.EnumSet.noneOf(ActivationLayout.class), x, 4 * size, 1);
            assertThrows(IllegalStateException.class, () -> kernel.dotPrepared(data, 0, size, bare, 0),
                    "a layout the kernel reads but that was not prepared");
        }
    }
}
