package dev.jllm.format;

import dev.jllm.io.Printable;

/**
 * A model file that cannot be read: the message names the file and says what is wrong and what was expected. It is
 * always one line: control characters (a key or name read from a broken file may hold any) are shown as escapes, the
 * same ones as everywhere else ({@link Printable}).
 */
public class ModelFormatException extends RuntimeException {

    public ModelFormatException(String message) {
        super(Printable.escape(message));
    }

    public ModelFormatException(String message, Throwable cause) {
        super(Printable.escape(message), cause);
    }
}
