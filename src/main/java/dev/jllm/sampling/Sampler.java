package dev.jllm.sampling;

import java.util.Arrays;

/**
 * Picks the next token from a row of logits. Greedy when the temperature is 0; otherwise penalties, top-k, top-p,
 * min-p, temperature and a seeded draw (xorshift64*, so a seed gives the same tokens on every machine).
 */
public final class Sampler {

    private final SamplerOptions options;
    private long rngState;
    private Candidate[] candidates = new Candidate[0];
    /** Occurrences of each token in the penalty window, all zero between calls. */
    private int[] counts = new int[0];

    private record Candidate(int id, float logit) {
    }

    public Sampler(SamplerOptions options) {
        this.options = options;
        this.rngState = options.seed() == 0 ? 0x9E3779B97F4A7C15L : options.seed();
    }

    public SamplerOptions options() {
        return options;
    }

    /**
     * The next token for {@code logits} (one vocabulary row, read only), given the tokens so far in {@code history}
     * ({@code historyLength} of them) for the repetition penalty.
     */
    public int sample(float[] logits, int offset, int vocab, int[] history, int historyLength) {
        float[] row = Arrays.copyOfRange(logits, offset, offset + vocab);
        applyRepeatPenalty(row, history, historyLength);
        if (options.temperature() <= 0f) {
            return argmax(row);
        }
        if (candidates.length != vocab) {
            candidates = new Candidate[vocab];
        }
        for (int i = 0; i < vocab; i++) {
            candidates[i] = new Candidate(i, row[i]);
        }
        Arrays.sort(candidates, (a, b) -> Float.compare(b.logit, a.logit));
        int keep = vocab;
        if (options.topK() > 0) {
            keep = Math.min(keep, options.topK());
        }
        double[] probs = softmax(candidates, keep, 1f);
        if (options.topP() < 1f) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += probs[i];
                if (cumulative >= options.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            probs = softmax(candidates, keep, 1f);
        }
        if (options.minP() > 0f) {
            double threshold = probs[0] * options.minP();
            int k = 1;
            while (k < keep && probs[k] >= threshold) {
                k++;
            }
            keep = k;
        }
        probs = softmax(candidates, keep, options.temperature());
        double r = nextDouble();
        double cumulative = 0;
        for (int i = 0; i < keep; i++) {
            cumulative += probs[i];
            if (r < cumulative) {
                return candidates[i].id;
            }
        }
        return candidates[keep - 1].id;
    }

    /**
     * llama.cpp's penalties: for each distinct token among the last {@code repeatLastN} of the history, seen c times,
     * the repetition penalty divides a positive logit (multiplies a negative one), then {@code c * frequency +
     * presence} is subtracted.
     */
    private void applyRepeatPenalty(float[] row, int[] history, int historyLength) {
        if (!options.penalizes() || history == null) {
            return;
        }
        if (counts.length != row.length) {
            counts = new int[row.length];
        }
        int from = Math.max(0, historyLength - options.repeatLastN());
        for (int i = from; i < historyLength; i++) {
            int id = history[i];
            if (id >= 0 && id < row.length) {
                counts[id]++;
            }
        }
        float penalty = options.repeatPenalty();
        for (int i = from; i < historyLength; i++) {
            int id = history[i];
            if (id < 0 || id >= row.length || counts[id] == 0) {
                continue; // outside the vocabulary, or already penalized
            }
            row[id] = row[id] > 0 ? row[id] / penalty : row[id] * penalty;
            row[id] -= counts[id] * options.frequencyPenalty() + options.presencePenalty();
            counts[id] = 0;
        }
    }

    private static double[] softmax(Candidate[] sorted, int count, float temperature) {
        double[] p = new double[count];
        double max = sorted[0].logit / temperature;
        double sum = 0;
        for (int i = 0; i < count; i++) {
            p[i] = Math.exp(sorted[i].logit / temperature - max);
            sum += p[i];
        }
        for (int i = 0; i < count; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** The index of the largest value (the first one on ties). */
    public static int argmax(float[] row) {
        return argmax(row, 0, row.length);
    }

    public static int argmax(float[] logits, int offset, int length) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < length; i++) {
            if (logits[offset + i] > bestValue) {
                bestValue = logits[offset + i];
                best = i;
            }
        }
        return best;
    }

    private double nextDouble() {
        rngState ^= rngState >>> 12;
        rngState ^= rngState << 25;
        rngState ^= rngState >>> 27;
        long bits = rngState * 0x2545F4914F6CDD1DL;
        return (bits >>> 11) * 0x1.0p-53;
    }
}
