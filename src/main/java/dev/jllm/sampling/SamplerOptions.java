package dev.jllm.sampling;

/**
 * The sampling chain's settings, applied in llama.cpp's order: repetition penalty over the last
 * {@code repeatLastN} tokens, top-k, top-p, min-p, temperature, then a draw. {@code temperature <= 0} means greedy.
 *
 * @param topK         keep the k most likely tokens (0 = off)
 * @param topP         keep the smallest set whose probability reaches p (1 = off)
 * @param minP         drop tokens less likely than minP times the most likely (0 = off)
 * @param repeatPenalty divide positive (multiply negative) logits of recent tokens by this (1 = off)
 * @param repeatLastN  how many recent tokens the penalty looks at
 * @param seed         random seed for the draw
 */
public record SamplerOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
        long seed) {

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
    }
}
