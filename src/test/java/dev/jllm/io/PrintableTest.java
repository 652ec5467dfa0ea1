package dev.jllm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** What a terminal would act on is escaped; everything printable, any script or emoji, is left as it is. */
class PrintableTest {

    @Test
    void printableTextIsUnchanged() {
        String text = "Hello, wörld! 日本語 — emoji 😀 ▁piece <0x0A> \\ back";
        assertSame(text, Printable.escape(text));
    }

    @Test
    void controlAndFormatCharactersAreEscaped() {
        assertEquals("\\x1b]0;title\\x07\\x1b[2J", Printable.escape("\u001b]0;title\u0007\u001b[2J"));
        assertEquals("a\\nb\\tc\\rd\\x00e\\x7f\\x9b", Printable.escape("a\nb\tc\rd\0e\u007f\u009b"));
        assertEquals("\\u202eevil\\u200b\\u2028", Printable.escape("\u202eevil\u200b\u2028"));
        assertEquals("lone \\ud800 surrogate", Printable.escape("lone \ud800 surrogate"));
        assertEquals("lone \\udc00", Printable.escape("lone \udc00"));
    }

    @Test
    void oneLineJoinsLinesAndEscapesTheRest() {
        assertEquals("first second \\x1b[1m third", Printable.oneLine("first\nsecond\r\n\u001b[1m third\n"));
    }
}
