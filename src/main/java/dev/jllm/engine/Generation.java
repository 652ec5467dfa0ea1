package dev.jllm.engine;

/**
 * What a generation produced.
 *
 * @param promptIds      the prompt's tokens as run (with BOS when added)
 * @param generatedIds   the generated tokens, without the one that ended generation
 * @param text           the generated text (not the prompt)
 * @param stopReason     why generation stopped
 * @param promptNanos    time spent on the prompt (prefill)
 * @param generateNanos  time spent generating after the first token was sampled
 */
public record Generation(int[] promptIds, int[] generatedIds, String text, StopReason stopReason, long promptNanos,
        long generateNanos) {

    public enum StopReason {
        /** The model produced an end-of-text token. */
        END_OF_TEXT("end of text"),
        /** The requested number of tokens was generated. */
        MAX_TOKENS("token limit reached"),
        /** The context is full. */
        CONTEXT_FULL("context full");

        public final String description;

        StopReason(String description) {
            this.description = description;
        }
    }

    public double promptTokensPerSecond() {
        return promptNanos == 0 ? 0 : promptIds.length * 1e9 / promptNanos;
    }

    /** Tokens per second of decoding: every generated token after the first, which came from the prompt's logits. */
    public double generateTokensPerSecond() {
        int decoded = Math.max(0, generatedIds.length - 1);
        return generateNanos == 0 ? 0 : decoded * 1e9 / generateNanos;
    }
}
