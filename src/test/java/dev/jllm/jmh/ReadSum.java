package dev.jllm.jmh;

import dev.jllm.tensor.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The memory-bandwidth probe: the wrapping sum of every 64-bit word of a segment, read with the widest vectors, split
 * over the {@link Parallel} pool in contiguous 1 MiB blocks (as the kernels split their rows). Integer adds with four
 * independent accumulators, so the loads and not the arithmetic set the pace: what a plain C sum measures.
 */
final class ReadSum {

    static final long BLOCK = 1 << 20;
    private static final VectorSpecies<Long> S = LongVector.SPECIES_PREFERRED;
    private static final long STEP = 4L * S.vectorByteSize();

    private final MemorySegment data;
    private final AtomicLong total = new AtomicLong();
    private final Parallel.RangeBody body;
    private final int blocks;

    /** Probes the first {@code bytes} of {@code data}, a multiple of 1 MiB. */
    ReadSum(MemorySegment data, long bytes) {
        if (bytes % BLOCK != 0 || bytes > data.byteSize()) {
            throw new IllegalArgumentException(bytes + " bytes: expected a multiple of 1 MiB within the segment of "
                    + data.byteSize());
        }
        this.data = data;
        this.blocks = Math.toIntExact(bytes / BLOCK);
        this.body = (start, end) -> total.addAndGet(sum(this.data, start * BLOCK, end * BLOCK));
    }

    /** One pass over all the bytes; returns the sum so that nothing is optimized away. */
    long pass() {
        total.set(0);
        Parallel.forRange(blocks, body);
        return total.get();
    }

    /** The wrapping sum of the longs in {@code [from, to)}; both multiples of {@link #STEP}. */
    static long sum(MemorySegment data, long from, long to) {
        int w = S.vectorByteSize();
        LongVector a0 = LongVector.zero(S);
        LongVector a1 = a0;
        LongVector a2 = a0;
        LongVector a3 = a0;
        for (long o = from; o < to; o += STEP) {
            a0 = a0.add(LongVector.fromMemorySegment(S, data, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(LongVector.fromMemorySegment(S, data, o + w, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(LongVector.fromMemorySegment(S, data, o + 2 * w, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(LongVector.fromMemorySegment(S, data, o + 3 * w, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
