package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A named, typed view over bytes (usually a slice of a memory-mapped file).
 *
 * @param shape dimensions in ggml order: {@code shape[0]} is the number of values in one contiguous row
 *              (for a weight matrix, the input size); the product of the rest is the number of rows.
 */
public record Tensor(String name, TensorType type, long[] shape, MemorySegment data) {

    public Tensor {
        shape = shape.clone();
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
        kernel().dequantize(data, row * n, n, out, offset);
    }

    /** The whole tensor as floats (for tests and small tensors such as norms). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(elementCount())];
        kernel().dequantize(data, 0, out.length, out, 0);
        return out;
    }

    /** Dot product of row {@code row} with {@code x[xOffset..xOffset+rowLength)}. */
    public float dotRow(long row, float[] x, int xOffset) {
        int n = rowLength();
        return kernel().dot(data, row * n, n, x, xOffset);
    }

    /** A shape as ggml prints it, e.g. {@code [64, 512]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }
}
