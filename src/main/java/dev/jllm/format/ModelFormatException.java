package dev.jllm.format;

/**
 * A model file that cannot be read: the message names the file and says what is wrong and what was expected. It is
 * always one line: control characters (a key or name read from a broken file may hold any) are shown as escapes.
 */
public class ModelFormatException extends RuntimeException {

    public ModelFormatException(String message) {
        super(printable(message));
    }

    public ModelFormatException(String message, Throwable cause) {
        super(printable(message), cause);
    }

    static String printable(String s) {
        if (s == null) {
            return null;
        }
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\x%02x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
