package dev.jllm.tensor;

/** Matrix times a batch of vectors, split over output rows across the thread pool. */
public final class MatMul {

    private MatMul() {
    }

    /**
     * {@code out[b * rows + r] = W[r] · x[b * cols .. b * cols + cols)} for every row r of {@code w} and every b in
     * {@code [0, batch)}, where cols = w.rowLength() and rows = w.rowCount(). Each weight row is read once for the
     * whole batch.
     */
    public static void apply(Tensor w, float[] x, int batch, float[] out) {
        int cols = w.rowLength();
        int rows = Math.toIntExact(w.rowCount());
        Kernel kernel = w.kernel();
        var data = w.data();
        Parallel.forRange(rows, (start, end) -> {
            for (int r = start; r < end; r++) {
                long first = (long) r * cols;
                for (int b = 0; b < batch; b++) {
                    out[b * rows + r] = kernel.dot(data, first, cols, x, b * cols);
                }
            }
        });
    }
}
