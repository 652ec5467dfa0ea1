package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Set;

/**
 * A block type's own tiled matrix product: what {@link BlockKernel#productRows} runs instead of one
 * {@link BlockKernel#dotPrepared} per (row, vector). A tile must give the kernel's dot products bit for bit, so that a
 * token's result never depends on its batch; it may read the mapped weights directly or (later) a repacked copy.
 */
interface RowTiles {

    /** Rows per tile for a batch of {@code batch} vectors, or 0 for no tiled product at that batch. */
    int rowTile(int batch);

    /** The activation layouts {@link #productRows} reads for this shape (including the kernel's own, for leftovers). */
    Set<ActivationLayout> layouts(BlockKernel kernel, int rows, int batch);

    /** As {@link Kernel#productRows}. */
    void productRows(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out);
}
