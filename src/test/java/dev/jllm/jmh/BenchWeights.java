package dev.jllm.jmh;

import dev.jllm.quant.Quantizer;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.MatMul;
import dev.jllm.tensor.PreparedActivations;
import dev.jllm.tensor.Repacking;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Weight matrices for the kernel benchmarks: off-heap, valid blocks of random values, and enough copies of one matrix
 * at different addresses that cycling through them reads from memory, not from the caches (the forward pass streams
 * every weight once per token, so a matrix that stays in the 32 MiB L3 would flatter the kernels).
 */
final class BenchWeights {

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private BenchWeights() {
    }

    /** Suffix of a benchmark's kernel name for a matrix repacked at load ({@link Repacking}), e.g. Q4_0_REPACKED. */
    static final String REPACKED = "_REPACKED";

    /** The file type of a benchmark's kernel name. */
    static GgmlType typeOf(String kernel) {
        return GgmlType.valueOf(kernel.endsWith(REPACKED) ? kernel.substring(0, kernel.length() - REPACKED.length())
                : kernel);
    }

    /**
     * As {@link #copies(Arena, GgmlType, int, int, int, long)} for a benchmark's kernel name: with the
     * {@link #REPACKED} suffix each copy is then repacked (in the same arena) as a model's matrices are at load.
     */
    static Tensor[] copies(Arena arena, String kernel, int rows, int cols, int footprintMiB, long seed) {
        Tensor[] copies = copies(arena, typeOf(kernel), rows, cols, footprintMiB, seed);
        if (kernel.endsWith(REPACKED)) {
            for (int i = 0; i < copies.length; i++) {
                copies[i] = Repacking.repack(copies[i], arena);
            }
        }
        return copies;
    }

    /** Bytes of one {@code rows x cols} matrix of {@code type}. */
    static long matrixBytes(GgmlType type, int rows, int cols) {
        return type.bytesFor((long) rows * cols);
    }

    /** Copies of one random matrix, at least {@code footprintMiB} in all (and at least one). */
    static Tensor[] copies(Arena arena, GgmlType type, int rows, int cols, int footprintMiB, long seed) {
        if (cols % type.blockSize() != 0) {
            throw new IllegalArgumentException(type + ": row length " + cols + " is not a multiple of the block size "
                    + type.blockSize());
        }
        long bytes = matrixBytes(type, rows, cols);
        long footprint = (long) footprintMiB << 20;
        int count = (int) Math.max(1, (footprint + bytes - 1) / bytes);
        MemorySegment first = arena.allocate(bytes, 64);
        fill(type, rows, cols, first, new SplittableRandom(seed));
        Tensor[] out = new Tensor[count];
        for (int i = 0; i < count; i++) {
            MemorySegment data = i == 0 ? first : arena.allocate(bytes, 64).copyFrom(first);
            out[i] = new Tensor("w" + i, type, new long[] {cols, rows}, data);
        }
        return out;
    }

    /**
     * Random weights N(0, 0.02) through the project's quantizer where there is one (F32, F16, BF16, Q8_0, Q4_0);
     * for the other block types, random quant bits with random valid fp16 scales (and minimums) in ggml's layout.
     */
    static void fill(GgmlType type, int rows, int cols, MemorySegment data, SplittableRandom random) {
        if (Quantizer.SUPPORTED.contains(type)) {
            Quantizer q = Quantizer.of(type);
            float[] row = new float[cols];
            long at = 0;
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < cols; i++) {
                    row[i] = (float) (gaussian(random) * 0.02);
                }
                at += q.quantize(row, 0, cols, data, at);
            }
            return;
        }
        long size = data.byteSize();
        long i = 0;
        for (; i + 8 <= size; i += 8) {
            data.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
        }
        for (; i < size; i++) {
            data.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt());
        }
        int halfs = switch (type) {
            case Q5_0 -> 1; // d, then 4 bytes of high bits and 16 of nibbles
            case Q4_1, Q5_1 -> 2; // d and m
            default -> throw new IllegalArgumentException("no filler for " + type);
        };
        for (long o = 0; o < size; o += type.blockBytes) {
            data.set(HALF, o, Float.floatToFloat16((float) (0.004 * (0.5 + random.nextDouble()))));
            if (halfs == 2) {
                data.set(HALF, o + 2, Float.floatToFloat16((float) (-0.03 * (0.5 + random.nextDouble()))));
            }
        }
    }

    /**
     * Runs {@link MatMul#apply} {@code times} times on the first {@code warmRows} rows of {@code w}, so that the JIT
     * compiles the product's code with full optimization before JMH's warm-up. A full-size product calls the tiled
     * kernel once per thread, and C2 wants hundreds of calls (each slow while interpreted): without this, warm-up
     * iterations of a second would still be measuring the interpreter for a batch of 32.
     */
    static void warmUp(Tensor w, int warmRows, int batch, int times) {
        int cols = w.rowLength();
        int rows = Math.min(warmRows, Math.toIntExact(w.rowCount()));
        Tensor small = new Tensor("warm", w.type(), new long[] {cols, rows},
                w.data().asSlice(0, w.type().bytesFor((long) rows * cols)));
        float[] x = activations(cols, batch, 3);
        float[] out = new float[rows * batch];
        PreparedActivations prepared = new PreparedActivations();
        for (int i = 0; i < times; i++) {
            MatMul.apply(small, x, batch, out, prepared);
        }
    }

    /** Activations of a batch: N(0, 1). */
    static float[] activations(int cols, int batch, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[cols * batch];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) gaussian(random);
        }
        return x;
    }

    private static double gaussian(SplittableRandom random) {
        double u = 1 - random.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.nextDouble());
    }
}
