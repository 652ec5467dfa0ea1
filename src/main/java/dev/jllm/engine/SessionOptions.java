package dev.jllm.engine;

/**
 * How a session runs its tokens.
 *
 * @param contextSize   positions the session can hold (at most the model's context length)
 * @param prefill       whether a prompt goes through the model as one batch or one token at a time
 * @param useKvCache    false recomputes the whole sequence at every step (slow; a check that the cache is right)
 */
public record SessionOptions(int contextSize, Prefill prefill, boolean useKvCache) {

    public enum Prefill { BATCH, TOKEN }

    public static SessionOptions defaults(int contextSize) {
        return new SessionOptions(contextSize, Prefill.BATCH, true);
    }
}
