package dev.jllm.tensor;

/**
 * How the numbers of a tensor are stored. Every type knows its block geometry and has one {@link Kernel};
 * nothing outside the kernels looks at the bytes.
 */
public sealed interface TensorType permits GgmlType, GroupedQ8Type, RepackedType {

    String name();

    /** Elements per block (1 for plain float types). */
    int blockSize();

    /** Bytes needed to store {@code elements} values of this type (elements is a multiple of blockSize). */
    long bytesFor(long elements);

    /** The kernel for this type, or null when jllm cannot compute with it yet. */
    Kernel kernel();
}
