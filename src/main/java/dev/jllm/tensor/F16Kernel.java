package dev.jllm.tensor;

import static dev.jllm.tensor.KernelVectors.FLOATS;
import static dev.jllm.tensor.KernelVectors.FLOAT_LANES;
import static dev.jllm.tensor.KernelVectors.SHORT_LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** IEEE half precision, little-endian; widened to float with shifts and masks inside the dot product. */
final class F16Kernel implements Kernel {

    static final F16Kernel INSTANCE = new F16Kernel();

    /** ggml multiplies F16 weights with activations rounded to F16. */
    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.F16;
    }

    /**
     * As {@code ggml_vec_dot_f16} sums (see {@link FloatDotOrder#vecDot}), whatever the batch: ggml multiplies two or
     * more vectors with llamafile's tinyBLAS instead (another order), but one order for every batch keeps batched
     * and token-at-a-time prefill giving the same logits, and decoding (one vector) is where most logits come from.
     */
    @Override
    public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        checkFormat(x);
        return FloatDotOrder.vecDot(data, first, count, x.floats(), xOffset, true);
    }

    /**
     * Rows are widened to floats once (exact, {@link #widen}) for all the vectors. One vector: a row at a time. A batch:
     * rows two at a time, each pair multiplied with the vectors three at a time ({@link FloatDotOrder#vecDotFloats2x3}),
     * the same sums as the dot product.
     */
    @Override
    public int rowTile(int batch) {
        return BlockTiles.ENABLED ? (batch > 1 ? 2 : 1) : 0;
    }

    private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[1][0]);
    private static final ThreadLocal<short[][]> HALVES = ThreadLocal.withInitial(() -> new short[1][0]);

    @Override
    public void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows, PreparedActivations x,
            float[] out) {
        checkFormat(x);
        float[][] holder = ROW.get();
        if (holder[0].length < 2 * cols) {
            holder[0] = new float[2 * cols];
        }
        float[] row = holder[0];
        short[][] halvesHolder = HALVES.get();
        if (halvesHolder[0].length < cols) {
            halvesHolder[0] = new short[cols];
        }
        short[] halves = halvesHolder[0];
        float[] xf = x.floats();
        int batch = x.batch();
        int r = rowStart;
        if (batch > 1) {
            for (; r + 2 <= rowEnd; r += 2) {
                widenRow(data, r, cols, halves, row, 0);
                widenRow(data, r + 1, cols, halves, row, cols);
                int b = 0;
                for (; b + 3 <= batch; b += 3) {
                    FloatDotOrder.vecDotFloats2x3(row, 0, cols, cols, xf, b * cols, (b + 1) * cols, (b + 2) * cols,
                            true, out, b * rows + r, rows);
                }
                for (; b < batch; b++) {
                    out[b * rows + r] = FloatDotOrder.vecDotFloats(row, 0, cols, xf, b * cols, true);
                    out[b * rows + r + 1] = FloatDotOrder.vecDotFloats(row, cols, cols, xf, b * cols, true);
                }
            }
        }
        for (; r < rowEnd; r++) {
            widenRow(data, r, cols, halves, row, 0);
            for (int b = 0; b < batch; b++) {
                out[b * rows + r] = FloatDotOrder.vecDotFloats(row, 0, cols, xf, b * cols, true);
            }
        }
    }

    /** Row r of the matrix as floats into {@code row[at .. at + cols)}, through {@code halves}. */
    private static void widenRow(MemorySegment data, int r, int cols, short[] halves, float[] row, int at) {
        MemorySegment.copy(data, SHORT_LE, (long) r * cols * 2, halves, 0, cols);
        widen(halves, row, at, cols);
    }

    /** Half-precision bit patterns to floats: a plain loop, which C2 compiles to vcvtph2ps. */
    private static void widen(short[] halves, float[] out, int at, int count) {
        for (int i = 0; i < count; i++) {
            out[at + i] = Float.float16ToFloat(halves[i]);
        }
    }

    private static void checkFormat(PreparedActivations x) {
        if (x.format() != ActivationFormat.F16) {
            throw new IllegalArgumentException("activations prepared as " + x.format() + ", expected F16");
        }
    }

    @Override
    public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        long base = first * 2;
        int i = 0;
        for (int upper = FLOATS.loopBound(count); i < upper; i += FLOAT_LANES) {
            KernelVectors.halfToFloat(KernelVectors.loadShorts(data, base + i * 2L)).intoArray(out, outOffset + i);
        }
        for (; i < count; i++) {
            out[outOffset + i] = Float.float16ToFloat(data.get(SHORT_LE, base + i * 2L));
        }
    }

    @Override
    public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        long base = first * 2;
        int i = 0;
        float result = 0f;
        int upper = FLOATS.loopBound(count);
        if (upper > 0) {
            FloatVector acc = FloatVector.zero(FLOATS);
            for (; i < upper; i += FLOAT_LANES) {
                FloatVector w = KernelVectors.halfToFloat(KernelVectors.loadShorts(data, base + i * 2L));
                acc = w.fma(FloatVector.fromArray(FLOATS, x, xOffset + i), acc);
            }
            result = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < count; i++) {
            result += Float.float16ToFloat(data.get(SHORT_LE, base + i * 2L)) * x[xOffset + i];
        }
        return result;
    }

    static void dequantizeScalar(MemorySegment data, long first, int count, float[] out, int outOffset) {
        for (int i = 0; i < count; i++) {
            out[outOffset + i] = Float.float16ToFloat(data.get(SHORT_LE, (first + i) * 2));
        }
    }

    static float dotScalar(MemorySegment data, long first, int count, float[] x, int xOffset) {
        float sum = 0f;
        for (int i = 0; i < count; i++) {
            sum += Float.float16ToFloat(data.get(SHORT_LE, (first + i) * 2)) * x[xOffset + i];
        }
        return sum;
    }
}
