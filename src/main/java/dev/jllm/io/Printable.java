package dev.jllm.io;

/**
 * Text from a file or a server made safe to show on a terminal: a name in a model file or a Hub listing may hold
 * escape sequences that retitle the window, clear the screen or hide what follows, so everything that is not printable
 * is shown as an escape. Newline, tab and carriage return become {@code \n}, {@code \t}, {@code \r}; other C0 and C1
 * control characters and DEL {@code \xNN}; Unicode format characters (bidi overrides, zero-width joiners), line and
 * paragraph separators, private-use and unassigned code points and lone surrogates {@code \}{@code uNNNN}.
 */
public final class Printable {

    private Printable() {
    }

    /** {@code text} with every non-printable character escaped (newlines and tabs too). */
    public static String escape(String text) {
        if (text == null) {
            return null;
        }
        int i = 0;
        while (i < text.length() && printable(text.charAt(i), text, i)) {
            i += Character.isHighSurrogate(text.charAt(i)) ? 2 : 1; // a printable pair counts as one character
        }
        if (i == text.length()) {
            return text;
        }
        StringBuilder b = new StringBuilder(text.length() + 16).append(text, 0, i);
        for (; i < text.length(); i++) {
            char c = text.charAt(i);
            if (printable(c, text, i)) {
                b.append(c);
                if (Character.isHighSurrogate(c)) {
                    b.append(text.charAt(++i));
                }
            } else if (c == '\n') {
                b.append("\\n");
            } else if (c == '\t') {
                b.append("\\t");
            } else if (c == '\r') {
                b.append("\\r");
            } else if (c < 0x100) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(String.format("\\u%04x", (int) c));
            }
        }
        return b.toString();
    }

    /** One line for an error message: line breaks become spaces, everything else non-printable is escaped. */
    public static String oneLine(String text) {
        if (text == null) {
            return null;
        }
        return escape(text.replace("\r\n", " ").replace('\n', ' ').replace('\r', ' ')).strip();
    }

    private static boolean printable(char c, String text, int at) {
        if (c >= 0x20 && c < 0x7f) {
            return true;
        }
        if (Character.isHighSurrogate(c)) {
            return at + 1 < text.length() && Character.isLowSurrogate(text.charAt(at + 1))
                    && visible(Character.toCodePoint(c, text.charAt(at + 1)));
        }
        if (Character.isSurrogate(c)) {
            return false; // a lone low surrogate
        }
        return visible(c);
    }

    private static boolean visible(int codePoint) {
        return switch (Character.getType(codePoint)) {
            case Character.CONTROL, Character.FORMAT, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                 Character.UNASSIGNED, Character.SURROGATE, Character.PRIVATE_USE -> false;
            default -> true;
        };
    }
}
