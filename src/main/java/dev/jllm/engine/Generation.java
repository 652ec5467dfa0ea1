package dev.jllm.engine;

import dev.jllm.sampling.TokenLogprobs;
import java.util.List;

/**
 * What a generation produced.
 *
 * @param promptIds      the prompt's tokens as run (with BOS when added)
 * @param generatedIds   the generated tokens, without the end-of-text token that ended generation (a token that
 *                       completed a stop string is included)
 * @param text           the generated text (not the prompt), ending before a stop string
 * @param stopReason     why generation stopped
 * @param promptNanos    time spent on the prompt (prefill)
 * @param generateNanos  time spent generating after the first token was sampled
 * @param probabilities  for each generated token, its log-probability and those of the most likely tokens at that
 *                       step, from the model's logits ({@link GenerationOptions#topProbabilities()} of them; empty
 *                       when that is 0)
 * @param stopString     the stop string that ended generation, or null
 */
public record Generation(int[] promptIds, int[] generatedIds, String text, StopReason stopReason, long promptNanos,
        long generateNanos, List<TokenLogprobs> probabilities, String stopString) {

    public Generation {
        probabilities = List.copyOf(probabilities);
    }

    public Generation(int[] promptIds, int[] generatedIds, String text, StopReason stopReason, long promptNanos,
            long generateNanos) {
        this(promptIds, generatedIds, text, stopReason, promptNanos, generateNanos, List.of(), null);
    }

    public enum StopReason {
        /** The model produced an end-of-text token. */
        END_OF_TEXT("end of text"),
        /** The requested number of tokens was generated. */
        MAX_TOKENS("token limit reached"),
        /** The context is full. */
        CONTEXT_FULL("context full"),
        /** The generated text reached a stop string. */
        STOP_STRING("stop string");

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
