package dev.jllm.engine;

import dev.jllm.sampling.SamplerOptions;
import java.util.List;

/**
 * @param maxTokens    how many tokens to generate at most; negative means until the end of text or a full context
 * @param sampler      the sampling chain
 * @param addBos       whether to start the prompt with BOS (null: as the tokenizer says)
 * @param parseSpecial whether special-token texts in the prompt (e.g. {@code <s>}) become special tokens
 * @param ignoreEos    whether end-of-generation tokens are never sampled, so generation runs to {@code maxTokens} or
 *                     a full context (llama.cpp's {@code --ignore-eos})
 * @param stops        stop strings: generation ends where the generated text first contains one, and the text ends
 *                     before it (llama.cpp's {@code --reverse-prompt}, the server's {@code stop}); none empty
 * @param topProbabilities how many of the most likely tokens to report with each generated token (0: none;
 *                     llama.cpp's {@code --n-probs})
 */
public record GenerationOptions(int maxTokens, SamplerOptions sampler, Boolean addBos, boolean parseSpecial,
        boolean ignoreEos, List<String> stops, int topProbabilities) {

    public GenerationOptions {
        stops = List.copyOf(stops);
        if (topProbabilities < 0) {
            throw new IllegalArgumentException("top probabilities must be 0 or more, got " + topProbabilities);
        }
    }

    public GenerationOptions(int maxTokens, SamplerOptions sampler, Boolean addBos, boolean parseSpecial,
            boolean ignoreEos) {
        this(maxTokens, sampler, addBos, parseSpecial, ignoreEos, List.of(), 0);
    }

    public GenerationOptions(int maxTokens, SamplerOptions sampler, Boolean addBos, boolean parseSpecial) {
        this(maxTokens, sampler, addBos, parseSpecial, false);
    }

    public static GenerationOptions greedy(int maxTokens) {
        return new GenerationOptions(maxTokens, SamplerOptions.greedy(), null, false);
    }
}
