package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Set;

/**
 * The operations every tensor type implements over its raw bytes. Element offsets and counts given to a kernel
 * are multiples of the type's block size (callers work a row at a time, and rows are whole blocks).
 *
 * <p>Two dot products: {@link #dot} with float activations (the exact reference, used by tests and small
 * products), and {@link #dotPrepared} with activations already converted to {@link #activationFormat()}, which is
 * what the forward pass uses so that jllm rounds as llama.cpp does (see {@link PreparedActivations}).
 */
public interface Kernel {

    /** Writes {@code count} values, starting at element {@code first} of {@code data}, as floats into {@code out[outOffset..]}. */
    void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset);

    /** The dot product of {@code count} values starting at element {@code first} with {@code x[xOffset..xOffset+count)}. */
    float dot(MemorySegment data, long first, int count, float[] x, int xOffset);

    /**
     * The kernel for one matrix product: a weight matrix of this type with {@code rows} rows of {@code cols} values
     * times {@code batch} vectors. ggml's CPU backend picks its kernel by shape (a Q4_0 matrix with a multiple of 8
     * rows is repacked eight rows at a time on x86), and each kernel sums in its own order; this returns a kernel
     * whose {@link #dotPrepared} rounds as the one ggml would use. The default is this kernel. A choice that depended
     * on the batch would make a token's result depend on its batch, so none does.
     */
    default Kernel forProduct(int cols, long rows, int batch) {
        return this;
    }

    /** The format this type multiplies activations in: ggml's {@code vec_dot_type} for the type. */
    default ActivationFormat activationFormat() {
        return ActivationFormat.F32;
    }

    /** The {@link ActivationLayout}s {@link #dotPrepared} reads (besides the values, scales and sums). */
    default Set<ActivationLayout> dotLayouts() {
        return Set.of();
    }

    /**
     * The {@link ActivationLayout}s {@link #productRows} reads for a product of {@code rows} rows by {@code batch}
     * vectors (including those of {@link #dotPrepared} where it falls back to it). Only used when
     * {@link #rowTile} is not 0.
     */
    default Set<ActivationLayout> productLayouts(int rows, int batch) {
        return dotLayouts();
    }

    /**
     * The dot product of {@code count} values starting at element {@code first} with the prepared activation values
     * {@code xOffset .. xOffset + count} (vector b of the batch starts at {@code b * x.rowLength()}). {@code x} must
     * have been prepared in {@link #activationFormat()} with {@link #dotLayouts()}. The default serves the float
     * formats.
     */
    default float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        if (x.format() != activationFormat()) {
            throw new IllegalArgumentException("activations prepared as " + x.format() + ", expected "
                    + activationFormat());
        }
        return dot(data, first, count, x.floats(), xOffset);
    }

    /**
     * Rows per tile of {@link #productRows} for a batch of {@code batch} vectors, or 0 when this kernel has no tiled
     * product (then each (row, vector) goes through {@link #dotPrepared}).
     */
    default int rowTile(int batch) {
        return 0;
    }

    /**
     * {@code out[b * rows + r] = dotPrepared(row r, vector b)} for rows {@code [rowStart, rowEnd)} and every vector of
     * {@code x}, bit for bit as {@link #dotPrepared} gives them, computed several rows and vectors at a time.
     * rowStart is a multiple of {@link #rowTile}; a last partial tile may end at rowEnd.
     */
    default void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows, PreparedActivations x,
            float[] out) {
        for (int r = rowStart; r < rowEnd; r++) {
            long first = (long) r * cols;
            for (int b = 0; b < x.batch(); b++) {
                out[b * rows + r] = dotPrepared(data, first, cols, x, b * cols);
            }
        }
    }
}
