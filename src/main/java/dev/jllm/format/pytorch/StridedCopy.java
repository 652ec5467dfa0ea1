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
