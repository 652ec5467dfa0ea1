package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * The operations every tensor type implements over its raw bytes. Element offsets and counts given to a kernel
 * are multiples of the type's block size (callers work a row at a time, and rows are whole blocks).
 */
public interface Kernel {

    /** Writes {@code count} values, starting at element {@code first} of {@code data}, as floats into {@code out[outOffset..]}. */
    void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset);

    /** The dot product of {@code count} values starting at element {@code first} with {@code x[xOffset..xOffset+count)}. */
    float dot(MemorySegment data, long first, int count, float[] x, int xOffset);
}
