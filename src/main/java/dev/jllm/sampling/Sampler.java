package dev.jllm.sampling;

import java.util.Arrays;

/**
 * Picks the next token from a row of logits. Greedy when the temperature is 0; otherwise penalties, top-k, top-p,
 * min-p, temperature and a seeded draw (xorshift64*, so a seed gives the same tokens on every machine).
 */
public final class Sampler {

    private final SamplerOptions options;
    private long rngState;
    /** The candidates of the current draw, most likely first. */
    private int[] sortedIds = new int[0];
    private float[] sortedLogits = new float[0];
    /** Occurrences of each token in the penalty window, all zero between calls. */
    private int[] counts = new int[0];

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
        int keep = sortCandidates(row);
        double[] probs = softmax(sortedLogits, keep, 1f);
        if (options.topP() < 1f) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += probs[i];
                if (cumulative >= options.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            probs = softmax(sortedLogits, keep, 1f);
        }
        if (options.minP() > 0f) {
            double threshold = probs[0] * options.minP();
            int k = 1;
            while (k < keep && probs[k] >= threshold) {
                k++;
            }
            keep = k;
        }
        probs = softmax(sortedLogits, keep, options.temperature());
        double r = nextDouble();
        double cumulative = 0;
        for (int i = 0; i < keep; i++) {
            cumulative += probs[i];
            if (r < cumulative) {
                return sortedIds[i];
            }
        }
        return sortedIds[keep - 1];
    }

    /**
     * Puts the top-k tokens (every token when top-k is off) into {@link #sortedIds} / {@link #sortedLogits}, most
     * likely first, equal logits in id order (a stable sort by {@link Float#compare}), and returns how many. With top-k
     * on, one pass keeps the k best in a short sorted list instead of sorting the whole vocabulary: the same order.
     */
    private int sortCandidates(float[] row) {
        int vocab = row.length;
        int k = options.topK() > 0 ? Math.min(options.topK(), vocab) : vocab;
        if (sortedIds.length < k) {
            sortedIds = new int[k];
            sortedLogits = new float[k];
        }
        if (k == vocab) {
            Integer[] order = new Integer[vocab];
            for (int i = 0; i < vocab; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Float.compare(row[b], row[a]));
            for (int i = 0; i < vocab; i++) {
                sortedIds[i] = order[i];
                sortedLogits[i] = row[order[i]];
            }
            return vocab;
        }
        int filled = 0;
        for (int i = 0; i < vocab; i++) {
            float v = row[i];
            if (filled == k && Float.compare(v, sortedLogits[k - 1]) <= 0) {
                continue;
            }
            int at = filled < k ? filled++ : k - 1;
            while (at > 0 && Float.compare(v, sortedLogits[at - 1]) > 0) {
                sortedIds[at] = sortedIds[at - 1];
                sortedLogits[at] = sortedLogits[at - 1];
                at--;
            }
            sortedIds[at] = i;
            sortedLogits[at] = v;
        }
        return k;
    }

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

    private static double[] softmax(float[] sortedLogits, int count, float temperature) {
        double[] p = new double[count];
        double max = sortedLogits[0] / temperature;
        double sum = 0;
        for (int i = 0; i < count; i++) {
            p[i] = Math.exp(sortedLogits[i] / temperature - max);
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
