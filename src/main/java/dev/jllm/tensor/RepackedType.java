package dev.jllm.tensor;

/**
 * A Q4_0 or Q8_0 matrix in the row-group layout of {@link RepackedKernel}, as {@link Repacking} makes it: the layout
 * depends on the row length, so each repacked matrix has its own type (and kernel).
 */
public final class RepackedType implements TensorType {

    private final RepackedKernel kernel;

    RepackedType(RepackedKernel kernel) {
        this.kernel = kernel;
    }

    /** The type the matrix has in its file. */
    public GgmlType source() {
        return kernel.source;
    }

    @Override
    public String name() {
        return kernel.source.name() + " (repacked)";
    }

    @Override
    public int blockSize() {
        return 32;
    }

    @Override
    public long bytesFor(long elements) {
        return kernel.bytesFor(elements / kernel.cols);
    }

    @Override
    public Kernel kernel() {
        return kernel;
    }
}
