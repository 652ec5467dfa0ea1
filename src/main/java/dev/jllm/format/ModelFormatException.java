package dev.jllm.format;

/** A model file that cannot be read: the message names the file and says what is wrong and what was expected. */
public class ModelFormatException extends RuntimeException {

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
