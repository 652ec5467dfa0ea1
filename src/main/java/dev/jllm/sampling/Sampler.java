package dev.jllm.sampling;

import java.util.Arrays;
import java.util.List;

/**
 * Picks the next token from a row of logits, with a chain of llama.cpp's samplers (by default: logit bias, penalties,
 * top-k, top-p, min-p, temperature, then a seeded draw from what is left) or with llama2.c's sampler
 * ({@link SamplerOrder.Llama2c}, see {@link Llama2cSampler}). A temperature of 0 or less is greedy. The draw is
 * xorshift64*, so a seed gives the same tokens on every machine. Not thread-safe; one per generation.
 */
public final class Sampler {

    private final SamplerOptions options;
    private final List<SamplerOrder.Stage> stages;
    private final Llama2cSampler llama2c;
    private long rngState;

    /*
     * The candidates. While `identity` holds they are the whole vocabulary in id order and live in `row` (id i has
     * logit row[i]); the first sampler that sorts or truncates them moves them to ids / values (`size` of them), most
     * likely first while `sorted` holds. Equal logits keep the order they had (lower ids first from the identity).
     */
    private float[] row = new float[0];
    private boolean identity;
    private int[] ids = new int[0];
    private float[] values = new float[0];
    private int size;
    private boolean sorted;
    /** Occurrences of each token in the penalty window, all zero between calls. */
    private int[] counts = new int[0];
    /** Position of each token among the candidates (penalties after truncation), all -1 between calls. */
    private int[] positions = new int[0];

    public Sampler(SamplerOptions options) {
        this.options = options;
        this.rngState = options.seed() == 0 ? 0x9E3779B97F4A7C15L : options.seed();
        if (options.order() instanceof SamplerOrder.Chain chain) {
            this.stages = chain.stages();
            this.llama2c = null;
        } else {
            this.stages = List.of();
            this.llama2c = new Llama2cSampler(options.temperature(), options.topP(), options.logitBias(), rngState);
        }
    }

    public SamplerOptions options() {
        return options;
    }

    /**
     * The next token for {@code logits} (one vocabulary row, read only), given the tokens so far in {@code history}
     * ({@code historyLength} of them) for the penalties.
     */
    public int sample(float[] logits, int offset, int vocab, int[] history, int historyLength) {
        if (llama2c != null) {
            return llama2c.sample(logits, offset, vocab);
        }
        if (row.length != vocab) {
            row = new float[vocab];
        }
        System.arraycopy(logits, offset, row, 0, vocab);
        identity = true;
        size = vocab;
        sorted = false;
        for (LogitBias bias : options.logitBias()) {
            if (bias.token() < vocab) {
                row[bias.token()] += bias.bias();
            }
        }
        int greedyAt = greedyStage();
        for (int i = 0; i < stages.size(); i++) {
            SamplerOrder.Stage stage = stages.get(i);
            if (i == greedyAt) {
                return mostLikely();
            }
            if (greedyAt >= 0 && stage != SamplerOrder.Stage.PENALTIES && !penaltiesBetween(i, greedyAt)) {
                continue; // a truncation keeps the most likely candidate: it matters only if penalties follow
            }
            switch (stage) {
                case PENALTIES -> applyPenalties(history, historyLength);
                case TOP_K -> topK(options.topK());
                case TOP_P -> topP(options.topP());
                case MIN_P -> minP(options.minP());
                case TEMPERATURE -> temperature(options.temperature());
            }
        }
        return draw();
    }

    /** The index of the first temperature stage when the temperature is greedy, else -1. */
    private int greedyStage() {
        return options.temperature() <= 0f ? stages.indexOf(SamplerOrder.Stage.TEMPERATURE) : -1;
    }

    private boolean penaltiesBetween(int from, int to) {
        return stages.subList(from + 1, to).contains(SamplerOrder.Stage.PENALTIES);
    }

    /** The candidate with the largest logit (the first one on ties), as {@link #argmax} picks it. */
    private int mostLikely() {
        return identity ? argmax(row) : ids[argmax(values, 0, size)];
    }

    /** A draw from the softmax of what is left, walked most likely first. */
    private int draw() {
        sort();
        double[] probs = softmax();
        double r = nextDouble();
        double cumulative = 0;
        for (int i = 0; i < size; i++) {
            cumulative += probs[i];
            if (r < cumulative) {
                return ids[i];
            }
        }
        return ids[size - 1];
    }

    /**
     * Keeps the k most likely candidates (all when k is 0 or at least their number), sorted. From the whole
     * vocabulary with k below its size, one pass keeps the k best in a short sorted list instead of sorting it all:
     * the same order.
     */
    private void topK(int k) {
        if (!identity || k <= 0 || k >= size) {
            sort();
            if (k > 0 && k < size) {
                size = k;
            }
            return;
        }
        ensureCapacity(k);
        int filled = 0;
        for (int i = 0; i < row.length; i++) {
            float v = row[i];
            if (filled == k && Float.compare(v, values[k - 1]) <= 0) {
                continue;
            }
            int at = filled < k ? filled++ : k - 1;
            while (at > 0 && Float.compare(v, values[at - 1]) > 0) {
                ids[at] = ids[at - 1];
                values[at] = values[at - 1];
                at--;
            }
            ids[at] = i;
            values[at] = v;
        }
        size = k;
        identity = false;
        sorted = true;
    }

    /** Keeps the most likely candidates whose probabilities (softmax of the current logits) first reach p. */
    private void topP(float p) {
        if (p >= 1f) {
            return;
        }
        sort();
        double[] probs = softmax();
        double cumulative = 0;
        for (int i = 0; i < size; i++) {
            cumulative += probs[i];
            if (cumulative >= p) {
                size = i + 1;
                return;
            }
        }
    }

    /** Keeps the candidates whose probability is at least p times the most likely one's. */
    private void minP(float p) {
        if (p <= 0f) {
            return;
        }
        sort();
        double[] probs = softmax();
        double threshold = probs[0] * p;
        int k = 1;
        while (k < size && probs[k] >= threshold) {
            k++;
        }
        size = k;
    }

    /** Divides the logits by a positive temperature (in float, as the logits are). */
    private void temperature(float t) {
        float[] target = identity ? row : values;
        int n = identity ? row.length : size;
        for (int i = 0; i < n; i++) {
            target[i] = target[i] / t;
        }
    }

    /**
     * Sorts the candidates, most likely first, by {@link Float#compare}; stable, so equal logits keep their order
     * (lower ids first when sorting the whole vocabulary).
     */
    private void sort() {
        if (sorted) {
            return;
        }
        float[] source = identity ? row : values;
        Integer[] order = new Integer[size];
        for (int i = 0; i < size; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(source[b], source[a]));
        int[] newIds = new int[Math.max(size, ids.length)];
        float[] newValues = new float[Math.max(size, values.length)];
        for (int i = 0; i < size; i++) {
            int from = order[i];
            newIds[i] = identity ? from : ids[from];
            newValues[i] = source[from];
        }
        ids = newIds;
        values = newValues;
        identity = false;
        sorted = true;
    }

    private void ensureCapacity(int n) {
        if (ids.length < n) {
            ids = new int[n];
            values = new float[n];
        }
    }

    /**
     * llama.cpp's penalties: each distinct token among the last {@code repeatLastN} of the history has its logit
     * divided by the repetition penalty when positive (multiplied when negative), then the frequency penalty times its
     * count and the presence penalty subtracted.
     */
    private void applyPenalties(int[] history, int historyLength) {
        if (!options.penalizes() || history == null) {
            return;
        }
        int vocab = row.length;
        if (counts.length != vocab) {
            counts = new int[vocab];
        }
        int from = Math.max(0, historyLength - options.repeatLastN());
        for (int i = from; i < historyLength; i++) {
            int id = history[i];
            if (id >= 0 && id < vocab) {
                counts[id]++;
            }
        }
        float[] target = identity ? row : values;
        if (!identity) {
            if (positions.length != vocab) {
                positions = new int[vocab];
                Arrays.fill(positions, -1);
            }
            for (int i = 0; i < size; i++) {
                positions[ids[i]] = i;
            }
        }
        float penalty = options.repeatPenalty();
        for (int i = from; i < historyLength; i++) {
            int id = history[i];
            if (id < 0 || id >= vocab || counts[id] == 0) {
                continue; // outside the vocabulary, or already penalized
            }
            int at = identity ? id : positions[id];
            if (at >= 0) {
                target[at] = target[at] > 0 ? target[at] / penalty : target[at] * penalty;
                target[at] -= counts[id] * options.frequencyPenalty() + options.presencePenalty();
            }
            counts[id] = 0;
        }
        if (!identity) {
            for (int i = 0; i < size; i++) {
                positions[ids[i]] = -1;
            }
            sorted = false;
        }
    }

    /** The softmax of the candidates' logits, in double. */
    private double[] softmax() {
        float[] source = identity ? row : values;
        double[] p = new double[size];
        double max = source[0];
        if (!sorted) {
            for (int i = 1; i < size; i++) {
                max = Math.max(max, source[i]);
            }
        }
        double sum = 0;
        for (int i = 0; i < size; i++) {
            p[i] = Math.exp(source[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < size; i++) {
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
