package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ParallelTest {

    @Test
    void everyIndexRunsExactlyOnce() {
        for (int n : new int[] {1, 2, 3, 7, 100, 1001}) {
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            for (int round = 0; round < 50; round++) {
                Parallel.forRange(n, (start, end) -> {
                    for (int i = start; i < end; i++) {
                        hits.incrementAndGet(i);
                    }
                });
            }
            for (int i = 0; i < n; i++) {
                assertEquals(50, hits.get(i), "index " + i + " of " + n);
            }
        }
    }

    @Test
    void aFailureInAChunkReachesTheCaller() {
        assertThrows(IllegalStateException.class, () -> Parallel.forRange(100, (start, end) -> {
            if (end == 100) {
                throw new IllegalStateException("boom");
            }
        }));
        // the pool still works afterwards
        AtomicIntegerArray hits = new AtomicIntegerArray(10);
        Parallel.forRange(10, (start, end) -> {
            for (int i = start; i < end; i++) {
                hits.incrementAndGet(i);
            }
        });
        for (int i = 0; i < 10; i++) {
            assertEquals(1, hits.get(i));
        }
    }

    @AfterEach
    void restoreDefaultPool() {
        Parallel.configure(Parallel.availableCores());
    }

    /**
     * A worker that the OS deschedules (a busy core, more threads than cores) must hold up only the small chunk it
     * took, not a fixed share of the loop: the others take the rest. Here the first chunk a worker takes stalls until
     * every other index is done; it must be a small part of the range.
     */
    @Test
    void aStalledWorkerHoldsOnlyASmallChunk() {
        Parallel.configure(4);
        int n = 1000;
        AtomicInteger done = new AtomicInteger();
        AtomicReference<int[]> stalled = new AtomicReference<>();
        Parallel.forRange(n, (start, end) -> {
            boolean worker = Thread.currentThread().getName().startsWith("jllm-worker");
            if (!worker) {
                // the caller could take every chunk before a worker wakes: let one start first
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (stalled.get() == null) {
                    assertTrue(System.nanoTime() < deadline, "no worker started");
                    Thread.onSpinWait();
                }
            }
            if (worker && stalled.compareAndSet(null, new int[] {start, end})) {
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (done.get() < n - (end - start)) {
                    assertTrue(System.nanoTime() < deadline, "the other threads did not finish the rest");
                    Thread.onSpinWait();
                }
            }
            done.addAndGet(end - start);
        });
        assertEquals(n, done.get());
        int[] range = stalled.get();
        assertTrue(range != null, "no worker took part");
        assertTrue(range[1] - range[0] <= n / 8, "a stalled worker held " + (range[1] - range[0]) + " of " + n
                + " indices");
    }

    /** Work too small to be worth waking a worker runs on the calling thread alone. */
    @Test
    void smallWorkStaysOnTheCallingThread() {
        Parallel.configure(4);
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        Parallel.forRange(64, 64, (start, end) -> seen.add(Thread.currentThread()));
        assertEquals(Set.of(Thread.currentThread()), seen);
        // and large work is shared
        Set<Thread> large = ConcurrentHashMap.newKeySet();
        AtomicInteger count = new AtomicInteger();
        Parallel.forRange(4096, 1_000_000, (start, end) -> {
            large.add(Thread.currentThread());
            for (int i = start; i < end; i++) {
                count.incrementAndGet();
                long until = System.nanoTime() + 20_000;
                while (System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
            }
        });
        assertEquals(4096, count.get());
        assertTrue(large.size() > 1, "a large loop ran on one thread only");
    }

    /** Idle workers park (they do not keep spinning on a core another thread needs). */
    @Test
    void idleWorkersPark() throws InterruptedException {
        Parallel.configure(3);
        Parallel.forRange(1000, (start, end) -> { });
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (true) {
            boolean allParked = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("jllm-worker"))
                    .allMatch(t -> t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TERMINATED);
            if (allParked) {
                break;
            }
            assertTrue(System.nanoTime() < deadline, "workers still running 5 s after the loop");
            Thread.sleep(10);
        }
    }
}
