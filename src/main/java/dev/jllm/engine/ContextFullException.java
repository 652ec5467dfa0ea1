package dev.jllm.engine;

/** More tokens than the session's context can hold. */
public class ContextFullException extends RuntimeException {

    private final int needed;
    private final int contextSize;

    public ContextFullException(int needed, int contextSize) {
        super("the context is full: " + needed + " tokens needed, the context holds " + contextSize
                + " (raise --ctx-size, up to the model's context length)");
        this.needed = needed;
        this.contextSize = contextSize;
    }

    public int needed() {
        return needed;
    }

    public int contextSize() {
        return contextSize;
    }
}
