package dev.jllm.format.pytorch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Copies a strided view of elements into another strided region: what makes a non-contiguous PyTorch view, a
 * transposed matrix or one model-parallel shard of a joined weight contiguous. Offsets and strides count elements of
 * {@code elementBytes} bytes (1, 2, 4 or 8, or 16 for complex doubles); both regions are checked by the segments.
 */
public final class StridedCopy {

    private StridedCopy() {
    }

    public static void copy(MemorySegment src, long srcOffset, long[] size, long[] srcStride, MemorySegment dst,
            long dstOffset, long[] dstStride, int elementBytes) {
        int dims = size.length;
        for (long s : size) {
            if (s == 0) {
                return;
            }
        }
        if (dims == 0) {
            MemorySegment.copy(src, srcOffset * elementBytes, dst, dstOffset * elementBytes, elementBytes);
            return;
        }
        int last = dims - 1;
        long inner = size[last];
        boolean runs = srcStride[last] == 1 && dstStride[last] == 1;
        if (dims == 2 && !runs && (elementBytes == 2 || elementBytes == 4)) {
            copyTiles(src, srcOffset, size, srcStride, dst, dstOffset, dstStride, elementBytes);
            return;
        }
        long[] index = new long[dims];
        long s = srcOffset;
        long d = dstOffset;
        while (true) {
            if (runs) {
                MemorySegment.copy(src, s * elementBytes, dst, d * elementBytes, inner * elementBytes);
            } else {
                copyElements(src, s, srcStride[last], dst, d, dstStride[last], inner, elementBytes);
            }
            int k = last - 1;
            while (k >= 0) {
                index[k]++;
                s += srcStride[k];
                d += dstStride[k];
                if (index[k] < size[k]) {
                    break;
                }
                s -= srcStride[k] * size[k];
                d -= dstStride[k] * size[k];
                index[k] = 0;
                k--;
            }
            if (k < 0) {
                return;
            }
        }
    }

    /** Tiles of 64 x 64 elements: a tile's columns on one side are runs on the other. */
    private static final int TILE = 64;

    /**
     * A 2-D copy whose source and destination run along different dimensions (a transpose) goes tile by tile: the
     * tile is read as runs of the source into a small array, transposed there, and written as runs of the
     * destination. Any other 2-D layout goes element by element within the tiles.
     */
    private static void copyTiles(MemorySegment src, long srcOffset, long[] size, long[] srcStride, MemorySegment dst,
            long dstOffset, long[] dstStride, int elementBytes) {
        boolean transpose = srcStride[0] == 1 && dstStride[1] == 1;
        int[] in32 = transpose && elementBytes == 4 ? new int[TILE * TILE] : null;
        int[] out32 = transpose && elementBytes == 4 ? new int[TILE * TILE] : null;
        short[] in16 = transpose && elementBytes == 2 ? new short[TILE * TILE] : null;
        short[] out16 = transpose && elementBytes == 2 ? new short[TILE * TILE] : null;
        for (long i0 = 0; i0 < size[0]; i0 += TILE) {
            int rows = (int) (Math.min(size[0], i0 + TILE) - i0);
            for (long j0 = 0; j0 < size[1]; j0 += TILE) {
                int cols = (int) (Math.min(size[1], j0 + TILE) - j0);
                if (!transpose) {
                    for (long i = i0; i < i0 + rows; i++) {
                        copyElements(src, srcOffset + i * srcStride[0] + j0 * srcStride[1], srcStride[1], dst,
                                dstOffset + i * dstStride[0] + j0 * dstStride[1], dstStride[1], cols, elementBytes);
                    }
                    continue;
                }
                for (int j = 0; j < cols; j++) { // source runs go along i
                    long from = (srcOffset + i0 + (j0 + j) * srcStride[1]) * elementBytes;
                    if (in32 != null) {
                        MemorySegment.copy(src, ValueLayout.JAVA_INT_UNALIGNED, from, in32, j * TILE, rows);
                    } else {
                        MemorySegment.copy(src, ValueLayout.JAVA_SHORT_UNALIGNED, from, in16, j * TILE, rows);
                    }
                }
                for (int i = 0; i < rows; i++) {
                    for (int j = 0; j < cols; j++) {
                        if (in32 != null) {
                            out32[i * TILE + j] = in32[j * TILE + i];
                        } else {
                            out16[i * TILE + j] = in16[j * TILE + i];
                        }
                    }
                }
                for (int i = 0; i < rows; i++) { // destination runs go along j
                    long to = (dstOffset + (i0 + i) * dstStride[0] + j0) * elementBytes;
                    if (out32 != null) {
                        MemorySegment.copy(out32, i * TILE, dst, ValueLayout.JAVA_INT_UNALIGNED, to, cols);
                    } else {
                        MemorySegment.copy(out16, i * TILE, dst, ValueLayout.JAVA_SHORT_UNALIGNED, to, cols);
                    }
                }
            }
        }
    }

    private static void copyElements(MemorySegment src, long s, long srcStep, MemorySegment dst, long d, long dstStep,
            long count, int elementBytes) {
        switch (elementBytes) {
            case 2 -> {
                for (long i = 0; i < count; i++) {
                    dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, (d + i * dstStep) * 2,
                            src.get(ValueLayout.JAVA_SHORT_UNALIGNED, (s + i * srcStep) * 2));
                }
            }
            case 4 -> {
                for (long i = 0; i < count; i++) {
                    dst.set(ValueLayout.JAVA_INT_UNALIGNED, (d + i * dstStep) * 4,
                            src.get(ValueLayout.JAVA_INT_UNALIGNED, (s + i * srcStep) * 4));
                }
            }
            default -> {
                for (long i = 0; i < count; i++) {
                    MemorySegment.copy(src, (s + i * srcStep) * elementBytes, dst, (d + i * dstStep) * elementBytes,
                            elementBytes);
                }
            }
        }
    }
}
