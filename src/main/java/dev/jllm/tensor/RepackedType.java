package dev.jllm.tensor;

/**
 * A matrix in the row-group layout of {@link RepackedKernel} (Q4_0, Q8_0) or {@link RepackedKKernel} (Q4_K, Q5_K,
 * Q6_K), as {@link Repacking} makes it: the layout depends on the row length, so each repacked matrix has its own type
 * (and kernel).
 */
public final class RepackedType implements TensorType {

    private final Kernel kernel;
    private final GgmlType source;
    private final int cols;
    private final java.util.function.LongUnaryOperator bytesForRows;

    RepackedType(RepackedKernel kernel) {
        this(kernel, kernel.source, kernel.cols, kernel::bytesFor);
    }

    RepackedType(RepackedKKernel kernel) {
        this(kernel, kernel.source, kernel.cols, kernel::bytesFor);
    }

    private RepackedType(Kernel kernel, GgmlType source, int cols, java.util.function.LongUnaryOperator bytesForRows) {
        this.kernel = kernel;
        this.source = source;
        this.cols = cols;
        this.bytesForRows = bytesForRows;
    }

    /** The type the matrix has in its file. */
    public GgmlType source() {
        return source;
    }

    @Override
    public String name() {
        return source.name() + " (repacked)";
    }

    @Override
    public int blockSize() {
        return source.blockSize();
    }

    @Override
    public long bytesFor(long elements) {
        return bytesForRows.applyAsLong(elements / cols);
    }

    @Override
    public Kernel kernel() {
        return kernel;
    }
}
