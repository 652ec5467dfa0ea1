package dev.jllm.sampling;

import java.util.List;

/**
 * The sampling chain's settings. By default they apply in llama.cpp's order: the logit bias, penalties over the last
 * {@code repeatLastN} tokens (repetition, then frequency and presence, as llama.cpp's penalties sampler applies them
 * together), top-k, top-p, min-p, temperature, then a draw. {@code temperature <= 0} means greedy (after the
 * penalties). {@code order} may name another order of llama.cpp's samplers, or llama2.c's sampler.
 *
 * @param topK             keep the k most likely tokens (0 = off)
 * @param topP             keep the smallest set whose probability reaches p (1 = off)
 * @param minP             drop tokens less likely than minP times the most likely (0 = off)
 * @param repeatPenalty    divide positive (multiply negative) logits of recent tokens by this (1 = off)
 * @param repeatLastN      how many recent tokens the penalties look at
 * @param seed             random seed for the draw
 * @param presencePenalty  subtracted once from the logit of every token among the recent ones (0 = off; OpenAI's
 *                         {@code presence_penalty}, -2..2)
 * @param frequencyPenalty subtracted from a recent token's logit once per occurrence (0 = off; OpenAI's
 *                         {@code frequency_penalty}, -2..2)
 * @param logitBias        added to the logits of their tokens before any sampler (in the list's order)
 * @param order            the samplers and their order (llama.cpp's default order, another, or llama2.c's)
 */
public record SamplerOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
        long seed, float presencePenalty, float frequencyPenalty, List<LogitBias> logitBias, SamplerOrder order) {

    /** In llama.cpp's default order, without a logit bias. */
    public SamplerOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
            long seed, float presencePenalty, float frequencyPenalty) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, presencePenalty, frequencyPenalty,
                List.of(), SamplerOrder.DEFAULT);
    }

    /** Without presence and frequency penalties (the chain as it was before they existed). */
    public SamplerOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
            long seed) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, 0f, 0f);
    }

    public static SamplerOptions greedy() {
        return new SamplerOptions(0f, 0, 1f, 0f, 1f, 64, 0);
    }

    public SamplerOptions {
        if (Float.isNaN(temperature)) {
            throw new IllegalArgumentException("temperature is NaN");
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be 0 (off) or positive, got " + topK);
        }
        if (order instanceof SamplerOrder.Llama2c) {
            if (!(topP >= 0f && topP <= 1f)) { // run.c: 0 and 1 both mean the whole distribution
                throw new IllegalArgumentException("top-p must be in [0, 1], got " + topP);
            }
        } else if (!(topP > 0f && topP <= 1f)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0f && minP <= 1f)) {
            throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        }
        if (!(repeatPenalty > 0f)) {
            throw new IllegalArgumentException("repeat penalty must be positive, got " + repeatPenalty);
        }
        if (repeatLastN < 0) {
            throw new IllegalArgumentException("repeat-last-n must be 0 or positive, got " + repeatLastN);
        }
        if (!Float.isFinite(presencePenalty)) {
            throw new IllegalArgumentException("presence penalty must be a finite number, got " + presencePenalty);
        }
        if (!Float.isFinite(frequencyPenalty)) {
            throw new IllegalArgumentException("frequency penalty must be a finite number, got " + frequencyPenalty);
        }
        logitBias = List.copyOf(logitBias);
        java.util.Objects.requireNonNull(order, "order");
    }

    /** These options with the presence and frequency penalties set. */
    public SamplerOptions withPenalties(float presence, float frequency) {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, presence, frequency,
                logitBias, order);
    }

    /** These options with another seed. */
    public SamplerOptions withSeed(long newSeed) {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, newSeed, presencePenalty,
                frequencyPenalty, logitBias, order);
    }

    /** These options with these logit biases (replacing any). */
    public SamplerOptions withLogitBias(List<LogitBias> biases) {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, presencePenalty,
                frequencyPenalty, biases, order);
    }

    /** These options with the samplers in another order (or llama2.c's sampler). */
    public SamplerOptions withOrder(SamplerOrder newOrder) {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, presencePenalty,
                frequencyPenalty, logitBias, newOrder);
    }

    /** Whether the penalties change any logit. */
    boolean penalizes() {
        return repeatLastN > 0 && (repeatPenalty != 1f || presencePenalty != 0f || frequencyPenalty != 0f);
    }
}
