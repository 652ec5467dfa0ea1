package dev.jllm.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Large off-heap buffers for repacked weights, owned by an {@link Arena}: on Linux mapped directly from the kernel
 * (anonymous memory, zero already), so that the memory is written once, by the repacking threads as they fault its
 * pages in, instead of first zeroed on one thread by {@link Arena#allocate} (as it is elsewhere, or if the system
 * call cannot be made). Transparent huge pages ({@code madvise(MADV_HUGEPAGE)}) were tried and not kept: on this
 * system the faults then compact memory and repacking took three times as long.
 */
final class OffHeap {

    private OffHeap() {
    }

    /** Below this a buffer comes from the arena: a mapping of its own is not worth a system call. */
    static final long MAPPED_FROM = 4L << 20;
    private static final long PAGE = 4096;

    // Linux x86-64 and aarch64 values
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;

    private record Native(MethodHandle mmap, MethodHandle munmap) {
    }

    private static final Optional<Native> NATIVE = lookUp();

    private static Optional<Native> lookUp() {
        if (!System.getProperty("os.name", "").startsWith("Linux")) {
            return Optional.empty();
        }
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            MethodHandle mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
            MethodHandle munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            return Optional.of(new Native(mmap, munmap));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty(); // no native access: the arena's own allocation
        }
    }

    /**
     * {@code bytes} of zeroed memory aligned to {@code alignment} (at most 4096), freed when {@code arena} closes.
     *
     * @throws OutOfMemoryError when the memory cannot be had
     */
    static MemorySegment allocate(Arena arena, long bytes, long alignment) {
        if (alignment > 4096 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment " + alignment);
        }
        if (bytes < MAPPED_FROM || NATIVE.isEmpty()) {
            return arena.allocate(bytes, alignment);
        }
        Native n = NATIVE.get();
        long size = (bytes + PAGE - 1) / PAGE * PAGE;
        MemorySegment at;
        try {
            at = (MemorySegment) n.mmap().invokeExact(MemorySegment.NULL, size, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable e) {
            return arena.allocate(bytes, alignment);
        }
        if (at.address() == -1L || at.address() == 0L) {
            throw new OutOfMemoryError("the system refused " + size + " bytes of memory");
        }
        long address = at.address();
        MethodHandle munmap = n.munmap();
        return at.reinterpret(bytes, arena, segment -> {
            try {
                int ignored = (int) munmap.invokeExact(MemorySegment.ofAddress(address), size);
            } catch (Throwable e) {
                throw new IllegalStateException("munmap failed", e);
            }
        });
    }
}
