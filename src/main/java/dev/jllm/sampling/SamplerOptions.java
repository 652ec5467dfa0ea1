package dev.jllm.sampling;

/**
 * The sampling chain's settings, applied in llama.cpp's order: penalties over the last {@code repeatLastN} tokens
 * (repetition, then frequency and presence, as llama.cpp's penalties sampler applies them together), top-k, top-p,
 * min-p, temperature, then a draw. {@code temperature <= 0} means greedy (after the penalties).
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
 */
public record SamplerOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
        long seed, float presencePenalty, float frequencyPenalty) {

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
        if (!(topP > 0f && topP <= 1f)) {
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
    }

    /** These options with the presence and frequency penalties set. */
    public SamplerOptions withPenalties(float presence, float frequency) {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, presence, frequency);
    }

    /** These options with another seed. */
    public SamplerOptions withSeed(long newSeed) {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, newSeed, presencePenalty,
                frequencyPenalty);
    }

    /** Whether the penalties change any logit. */
    boolean penalizes() {
        return repeatLastN > 0 && (repeatPenalty != 1f || presencePenalty != 0f || frequencyPenalty != 0f);
    }
}
