package dev.jllm.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Copies Q4_0 and Q8_0 weight matrices (Q4_K, Q5_K and Q6_K: {@link RepackedKKernel}), once at load, into the row-group
 * layout of {@link RepackedKernel}, in
 * off-heap memory of an arena the model owns (never on the Java heap). After that the products read only the copy;
 * the mapped file's pages of those matrices are released from the process's resident memory and not touched again.
 */
public final class Repacking {

    private Repacking() {
    }

    /** Bytes of alignment of a repacked copy (a cache line, and the width of the vectors that read it). */
    static final long ALIGNMENT = 64;

    /**
     * {@code bytes} of zeroed memory, 64-byte aligned, for repacked copies, freed when {@code arena} closes (see
     * {@link OffHeap}: mapped from the system where it can be, so it is written only once, by the repacking).
     *
     * @throws OutOfMemoryError when the memory cannot be had
     */
    public static MemorySegment allocate(Arena arena, long bytes) {
        return OffHeap.allocate(arena, bytes, ALIGNMENT);
    }

    /**
     * Whether {@link #repack} applies to {@code t}: a Q4_0, Q8_0, Q4_K, Q5_K or Q6_K matrix in row order, on a CPU with
     * AVX-512.
     */
    public static boolean applies(Tensor t) {
        return RepackedKernel.AVAILABLE && t.rowOrder() == null && t.shape().length == 2
                && ((t.type() == GgmlType.Q4_0 || t.type() == GgmlType.Q8_0) && t.rowLength() % 32 == 0
                        || kQuant(t));
    }

    private static boolean kQuant(Tensor t) {
        return (t.type() == GgmlType.Q4_K || t.type() == GgmlType.Q5_K || t.type() == GgmlType.Q6_K)
                && t.rowLength() % 256 == 0;
    }

    /** Bytes the repacked copy of {@code t} takes (t must be one {@link #applies} to). */
    public static long bytes(Tensor t) {
        if (applies(t) && kQuant(t)) {
            return kKernelFor(t).bytesFor(t.rowCount());
        }
        return kernelFor(t).bytesFor(t.rowCount());
    }

    private static RepackedKKernel kKernelFor(Tensor t) {
        if (t.type() == GgmlType.Q4_K) {
            return new RepackedQ4_K(t.rowLength());
        }
        return t.type() == GgmlType.Q5_K ? new RepackedQ5_K(t.rowLength()) : new RepackedQ6_K(t.rowLength());
    }

    private static RepackedKernel kernelFor(Tensor t) {
        if (!applies(t)) {
            throw new IllegalArgumentException("tensor " + t.name() + " (" + t.type().name() + ", "
                    + t.shapeString() + ") cannot be repacked");
        }
        return t.type() == GgmlType.Q4_0 ? new RepackedQ4_0(t.rowLength()) : new RepackedQ8_0(t.rowLength());
    }

    /**
     * {@code t} copied into {@code arena} in the repacked layout, with the same name and shape; its type is a
     * {@link RepackedType}. The groups of rows are copied on the thread pool.
     */
    public static Tensor repack(Tensor t, Arena arena) {
        return repack(t, allocate(arena, bytes(t)));
    }

    /**
     * As {@link #repack(Tensor, Arena)}, into {@code into}: {@link #bytes} bytes, 64-byte aligned, zeroed (a slice
     * of an arena's allocation).
     */
    public static Tensor repack(Tensor t, MemorySegment into) {
        if (applies(t) && kQuant(t)) {
            RepackedKKernel kernel = kKernelFor(t);
            check(t, into, kernel.bytesFor(t.rowCount()));
            long rows = t.rowCount();
            int groups = Math.toIntExact((rows + RepackedKKernel.ROWS - 1) / RepackedKKernel.ROWS);
            MemorySegment from = t.data();
            Parallel.forRange(groups, (long) RepackedKKernel.ROWS * t.rowLength(),
                    (start, end) -> kernel.repackGroups(from, rows, into, start, end));
            release(from);
            return new Tensor(t.name(), new RepackedType(kernel), t.shape(), into);
        }
        RepackedKernel kernel = kernelFor(t);
        long rows = t.rowCount();
        check(t, into, kernel.bytesFor(rows));
        int groups = Math.toIntExact((rows + RepackedKernel.ROWS - 1) / RepackedKernel.ROWS);
        MemorySegment from = t.data();
        Parallel.forRange(groups, (long) RepackedKernel.ROWS * t.rowLength(),
                (start, end) -> kernel.repackGroups(from, rows, into, start, end));
        release(from);
        return new Tensor(t.name(), new RepackedType(kernel), t.shape(), into);
    }

    /** Checks that {@code t} holds its bytes and that {@code into} is {@code bytes} bytes, aligned. */
    private static void check(Tensor t, MemorySegment into, long bytes) {
        long expected = t.type().bytesFor(t.elementCount());
        if (t.data().byteSize() < expected) {
            throw new IllegalArgumentException("tensor " + t.name() + " holds " + t.data().byteSize()
                    + " bytes, expected " + expected);
        }
        if (into.byteSize() != bytes || into.address() % ALIGNMENT != 0) {
            throw new IllegalArgumentException("tensor " + t.name() + " needs " + bytes
                    + " bytes aligned to " + ALIGNMENT + ", given " + into.byteSize() + " at " + into.address());
        }
    }

    private static void release(MemorySegment from) {
        if (from.isMapped()) {
            // The products read only the copy from now on: let the file's pages go from this process's resident
            // memory (they stay in the page cache, and come back from the file if anything reads them again).
            from.unload();
        }
    }

    /**
     * The memory the system can give without swapping, in bytes: Linux's MemAvailable (free memory plus what the page
     * cache can give back), or else the JVM's view of free physical memory.
     */
    public static long availableMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    String kb = line.substring("MemAvailable:".length()).replace("kB", "").trim();
                    return Long.parseLong(kb) * 1024;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux, or an unusual /proc: fall back to the JVM's figure
        }
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getFreeMemorySize();
        }
        return Long.MAX_VALUE;
    }
}
