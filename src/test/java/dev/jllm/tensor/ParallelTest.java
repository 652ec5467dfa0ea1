package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
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
}
