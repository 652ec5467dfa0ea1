package dev.jllm.engine;

import dev.jllm.sampling.SamplerOptions;

/**
 * @param maxTokens   how many tokens to generate at most; negative means until the end of text or a full context
 * @param sampler     the sampling chain
 * @param addBos      whether to start the prompt with BOS (null: as the tokenizer says)
 * @param parseSpecial whether special-token texts in the prompt (e.g. {@code <s>}) become special tokens
 * @param ignoreEos   whether end-of-generation tokens are never sampled, so generation runs to {@code maxTokens} or
 *                    a full context (llama.cpp's {@code --ignore-eos})
 */
public record GenerationOptions(int maxTokens, SamplerOptions sampler, Boolean addBos, boolean parseSpecial,
        boolean ignoreEos) {

    public GenerationOptions(int maxTokens, SamplerOptions sampler, Boolean addBos, boolean parseSpecial) {
        this(maxTokens, sampler, addBos, parseSpecial, false);
    }

    public static GenerationOptions greedy(int maxTokens) {
        return new GenerationOptions(maxTokens, SamplerOptions.greedy(), null, false);
    }
}
