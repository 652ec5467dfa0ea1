package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The repacked copies' memory: zeroed, aligned, of the size asked, writable, gone when its arena closes. */
class OffHeapTest {

    @Test
    void mappedAndArenaBuffersAreZeroedAlignedAndFreedWithTheirArena() {
        for (long bytes : new long[] {64, OffHeap.MAPPED_FROM - 64, OffHeap.MAPPED_FROM, 3 * OffHeap.MAPPED_FROM + 4160}) {
            MemorySegment m;
            try (Arena arena = Arena.ofShared()) {
                m = Repacking.allocate(arena, bytes);
                assertEquals(bytes, m.byteSize());
                assertEquals(0, m.address() % Repacking.ALIGNMENT, "alignment of " + bytes + " bytes");
                for (long at = 0; at < bytes; at += 4096) {
                    assertEquals(0, m.get(ValueLayout.JAVA_BYTE, at), "byte " + at + " of " + bytes);
                }
                assertEquals(0, m.get(ValueLayout.JAVA_BYTE, bytes - 1));
                m.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
                m.fill((byte) 1);
                assertEquals(1, m.get(ValueLayout.JAVA_BYTE, bytes / 2));
                assertTrue(m.scope().isAlive());
            }
            MemorySegment closed = m;
            assertThrows(IllegalStateException.class, () -> closed.get(ValueLayout.JAVA_BYTE, 0));
        }
    }
}
