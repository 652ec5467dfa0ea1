package dev.jllm.tensor;

/**
 * Matrix times a batch of vectors, split over output rows across the thread pool. The activations are first
 * converted once to the weight type's {@link ActivationFormat} (as ggml does), so the products round as llama.cpp's,
 * with only the {@link ActivationLayout}s the chosen kernel path reads.
 */
public final class MatMul {

    /**
     * One reusable buffer per calling thread: a forward pass calls {@link #apply} from one thread at a time, and two
     * models running on two threads each get their own. The workers only read it during the call.
     */
    private static final ThreadLocal<PreparedActivations> PREPARED = ThreadLocal.withInitial(PreparedActivations::new);

    private MatMul() {
    }

    /**
     * {@code out[b * rows + r] = W[r] · x[b * cols .. b * cols + cols)} for every row r of {@code w} and every b in
     * {@code [0, batch)}, where cols = w.rowLength() and rows = w.rowCount(). The activations are converted to the
     * kernel's format once; each weight row is read once for the whole batch. The kernel is the one
     * {@link Kernel#forProduct} picks for this shape, so the result rounds as ggml's.
     */
    public static void apply(Tensor w, float[] x, int batch, float[] out) {
        apply(w, x, batch, out, PREPARED.get());
    }

    /** As {@link #apply(Tensor, float[], int, float[])}, with the caller's buffer for the converted activations. */
    public static void apply(Tensor w, float[] x, int batch, float[] out, PreparedActivations prepared) {
        int cols = w.rowLength();
        int rows = Math.toIntExact(w.rowCount());
        Kernel kernel = w.kernel().forProduct(cols, rows, batch);
        var data = w.data();
        // Tiles read rows in storage order; a tensor viewed with another row order (Hugging Face Q/K) goes row by row.
        int tile = w.rowOrder() == null ? kernel.rowTile(batch) : 0;
        prepared.prepare(kernel.activationFormat(), tile > 0 ? kernel.productLayouts(rows, batch) : kernel.dotLayouts(),
                x, cols, batch);
        if (tile > 0) {
            int tiles = (rows + tile - 1) / tile;
            Parallel.forRange(tiles, (long) tile * cols * batch, (start, end) -> kernel.productRows(data, cols, start * tile,
                    Math.min(rows, end * tile), rows, prepared, out));
            return;
        }
        Parallel.forRange(rows, (long) cols * batch, (start, end) -> {
            for (int r = start; r < end; r++) {
                long first = w.rowStart(r);
                for (int b = 0; b < batch; b++) {
                    out[b * rows + r] = kernel.dotPrepared(data, first, cols, prepared, b * cols);
                }
            }
        });
    }
}
