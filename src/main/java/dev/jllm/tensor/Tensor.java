package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A named, typed view over bytes (usually a slice of a memory-mapped file).
 *
 * @param shape    dimensions in ggml order: {@code shape[0]} is the number of values in one contiguous row
 *                 (for a weight matrix, the input size); the product of the rest is the number of rows.
 * @param rowOrder null when rows are stored in order; otherwise logical row {@code r} is stored row
 *                 {@code rowOrder[r]} (a loader's view that reorders rows without copying them, e.g. Hugging Face's
 *                 rotate-half Q/K). Code that addresses rows goes through {@link #rowStart}.
 */
public record Tensor(String name, TensorType type, long[] shape, MemorySegment data, int[] rowOrder) {

    public Tensor {
        shape = shape.clone();
        if (rowOrder != null) {
            long rows = 1;
            for (int i = 1; i < shape.length; i++) {
                rows *= shape[i];
            }
            if (rowOrder.length != rows) {
                throw new IllegalArgumentException("tensor " + name + ": row order of " + rowOrder.length
                        + " rows for " + rows + " rows");
            }
            rowOrder = rowOrder.clone();
        }
    }

    /** A tensor whose rows are stored in order. */
    public Tensor(String name, TensorType type, long[] shape, MemorySegment data) {
        this(name, type, shape, data, null);
    }

    /** This tensor with logical row {@code r} read from stored row {@code order[r]} (of this tensor's rows). */
    public Tensor withRowOrder(int[] order) {
        if (rowOrder == null) {
            return new Tensor(name, type, shape, data, order);
        }
        int[] composed = new int[order.length];
        for (int r = 0; r < order.length; r++) {
            composed[r] = rowOrder[order[r]];
        }
        return new Tensor(name, type, shape, data, composed);
    }

    /** The element index in {@link #data} where logical row {@code row} starts. */
    public long rowStart(long row) {
        long stored = rowOrder == null ? row : rowOrder[Math.toIntExact(row)];
        return stored * shape[0];
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Values per row ({@code shape[0]}). */
    public int rowLength() {
        return Math.toIntExact(shape[0]);
    }

    public long rowCount() {
        return elementCount() / shape[0];
    }

    public long byteSize() {
        return data.byteSize();
    }

    public Kernel kernel() {
        Kernel k = type.kernel();
        if (k == null) {
            throw new UnsupportedOperationException("tensor " + name + ": type " + type.name() + " is not supported yet");
        }
        return k;
    }

    /** Row {@code row} as floats, into {@code out[offset..offset+rowLength)}. */
    public void dequantizeRow(long row, float[] out, int offset) {
        int n = rowLength();
        kernel().dequantize(data, rowStart(row), n, out, offset);
    }

    /** The whole tensor as floats (for tests and small tensors such as norms). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(elementCount())];
        if (rowOrder == null) {
            kernel().dequantize(data, 0, out.length, out, 0);
        } else {
            int n = rowLength();
            for (int r = 0; r < rowOrder.length; r++) {
                dequantizeRow(r, out, r * n);
            }
        }
        return out;
    }

    /** Dot product of row {@code row} with {@code x[xOffset..xOffset+rowLength)}. */
    public float dotRow(long row, float[] x, int xOffset) {
        int n = rowLength();
        return kernel().dot(data, rowStart(row), n, x, xOffset);
    }

    /** A shape as ggml prints it, e.g. {@code [64, 512]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }
}
