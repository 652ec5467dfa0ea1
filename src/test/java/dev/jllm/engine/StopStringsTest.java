package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StopStringsTest {

    private static String feed(StopStrings s, String... pieces) {
        StringBuilder out = new StringBuilder();
        for (String p : pieces) {
            out.append(s.accept(p));
        }
        if (!s.stopped()) {
            out.append(s.flush());
        }
        return out.toString();
    }

    @Test
    void aStopStringSpanningPiecesIsNeverShown() {
        StopStrings s = new StopStrings(List.of("\nUser:"));
        assertEquals("Hello", s.accept("Hello"));
        assertEquals("", s.accept("\nUs"), "might begin the stop string: held back");
        assertEquals(3, s.pendingLength());
        assertEquals("", s.accept("er: more"));
        assertTrue(s.stopped());
        assertEquals("\nUser:", s.matched());
        assertEquals("", s.accept("after"), "nothing after the stop");
    }

    @Test
    void heldBackTextIsReleasedOnceWhenItTurnsOutNotToBeAStop() {
        StopStrings s = new StopStrings(List.of("STOP"));
        assertEquals("a", s.accept("aST"));
        assertEquals("STa", s.accept("a"));
        assertEquals("b", s.accept("b"));
        assertEquals("", s.accept("S"));
        assertEquals("S", s.flush(), "the end of generation releases held-back text");
        assertFalse(s.stopped());
    }

    @Test
    void theEarliestOfSeveralStopsWins() {
        StopStrings s = new StopStrings(List.of("cde", "bcd", "x"));
        assertEquals("a", feed(s, "ab", "cdef"));
        assertEquals("bcd", s.matched(), "complete first, at 'd'");
        StopStrings longest = new StopStrings(List.of("d", "bcd"));
        assertEquals("a", feed(longest, "abcde"));
        assertEquals("bcd", longest.matched(), "both end at 'd': the longer is cut");
        assertEquals("1", feed(new StopStrings(List.of("22", "2")), "1", "22"));
    }

    @Test
    void withoutStopsTextPassesStraightThrough() {
        StopStrings s = new StopStrings(List.of());
        assertEquals("abc", s.accept("abc"));
        assertEquals("", s.flush());
    }

    @Test
    void emptyStopStringsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new StopStrings(List.of("")));
    }

    /**
     * Whatever the pieces, the shown text is exactly the text before the stop string completed first (or all of it),
     * each character shown once: checked against searching the growing text character by character, for random texts
     * and cuts.
     */
    @Test
    void randomTextsAndCutsAgreeWithSearchingTheWholeText() {
        Random random = new Random(7);
        for (int round = 0; round < 5000; round++) {
            String text = randomText(random, 1 + random.nextInt(30));
            List<String> stops = new ArrayList<>();
            for (int i = 0, n = random.nextInt(4); i < n; i++) {
                stops.add(randomText(random, 1 + random.nextInt(4)));
            }
            // The first prefix of the text that contains a stop string, cut before the earliest one in it.
            int end = text.length();
            for (int k = 1; k <= text.length() && end == text.length(); k++) {
                for (String stop : stops) {
                    int at = text.substring(0, k).indexOf(stop);
                    if (at >= 0) {
                        end = Math.min(end, at);
                    }
                }
            }
            StopStrings s = new StopStrings(stops);
            StringBuilder shown = new StringBuilder();
            int i = 0;
            while (i < text.length()) {
                int j = Math.min(text.length(), i + 1 + random.nextInt(5));
                shown.append(s.accept(text.substring(i, j)));
                assertTrue(text.startsWith(shown.toString()), "shown text is a prefix of the text");
                i = j;
            }
            if (!s.stopped()) {
                shown.append(s.flush());
            }
            assertEquals(text.substring(0, end), shown.toString(), "text " + text + " stops " + stops);
            assertEquals(end < text.length() || stops.stream().anyMatch(text::contains), s.stopped());
        }
    }

    private static String randomText(Random random, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append("ab\n".charAt(random.nextInt(3)));
        }
        return b.toString();
    }
}
