package dev.jllm.sampling;

import java.util.List;

/**
 * llama2.c {@code run.c}'s sampler, step for step and in its float32 arithmetic, so that a seed gives run.c's tokens:
 * temperature 0 is the argmax; otherwise the logits are divided by the temperature, turned into probabilities by a
 * float softmax, and one {@code random_f32} coin is drawn; with top-p at 0 or 1 the coin walks the probabilities in
 * vocabulary order, else run.c's top-p keeps the tokens of probability at least {@code (1 - p) / (n - 1)}, sorts them
 * most likely first (a stable sort: ties keep vocabulary order), cuts after the first whose cumulative probability
 * exceeds p and walks that list with the coin scaled by its total. run.c has no logit bias; one given (and
 * {@code --ignore-eos}) is added to the logits first, as in llama.cpp.
 */
final class Llama2cSampler {

    private final float temperature;
    private final float topP;
    private final List<LogitBias> logitBias;
    private long state;
    private float[] probs = new float[0];
    private int[] order = new int[0];

    Llama2cSampler(float temperature, float topP, List<LogitBias> logitBias, long seed) {
        this.temperature = temperature;
        this.topP = topP;
        this.logitBias = logitBias;
        this.state = seed;
    }

    int sample(float[] logits, int offset, int vocab) {
        if (probs.length != vocab) {
            probs = new float[vocab];
            order = new int[vocab];
        }
        System.arraycopy(logits, offset, probs, 0, vocab);
        for (LogitBias bias : logitBias) {
            if (bias.token() < vocab) {
                probs[bias.token()] += bias.bias();
            }
        }
        if (temperature <= 0f) { // run.c clamps a negative temperature to 0
            return argmax(probs, 0, vocab);
        }
        for (int i = 0; i < vocab; i++) {
            probs[i] = probs[i] / temperature;
        }
        softmax(probs, vocab);
        float coin = randomF32();
        if (topP <= 0f || topP >= 1f) {
            return sampleMultinomial(probs, vocab, coin);
        }
        return sampleTopP(vocab, coin);
    }

    /** run.c's {@code sample_argmax}: the first largest value, starting from the first. */
    private static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bestValue = logits[offset];
        for (int i = 1; i < vocab; i++) {
            if (logits[offset + i] > bestValue) {
                best = i;
                bestValue = logits[offset + i];
            }
        }
        return best;
    }

    /** run.c's {@code softmax}: every step in float, the sum accumulated in order. */
    private static void softmax(float[] x, int n) {
        float max = x[0];
        for (int i = 1; i < n; i++) {
            if (x[i] > max) {
                max = x[i];
            }
        }
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            x[i] = (float) Math.exp(x[i] - max); // expf: float32 exp, correctly rounded here
            sum += x[i];
        }
        for (int i = 0; i < n; i++) {
            x[i] /= sum;
        }
    }

    private static int sampleMultinomial(float[] p, int n, float coin) {
        float cdf = 0f;
        for (int i = 0; i < n; i++) {
            cdf += p[i];
            if (coin < cdf) {
                return i;
            }
        }
        return n - 1;
    }

    private int sampleTopP(int n, float coin) {
        float cutoff = (1f - topP) / (n - 1);
        int kept = 0;
        for (int i = 0; i < n; i++) {
            if (probs[i] >= cutoff) {
                order[kept++] = i;
            }
        }
        sortByProbabilityDescending(kept);
        float cumulative = 0f;
        int last = kept - 1;
        for (int i = 0; i < kept; i++) {
            cumulative += probs[order[i]];
            if (cumulative > topP) {
                last = i;
                break;
            }
        }
        float r = coin * cumulative;
        float cdf = 0f;
        for (int i = 0; i <= last; i++) {
            cdf += probs[order[i]];
            if (r < cdf) {
                return order[i];
            }
        }
        return order[last];
    }

    /** A stable sort of {@code order[0..n)} by probability, largest first (glibc's qsort is a merge sort). */
    private void sortByProbabilityDescending(int n) {
        Integer[] boxed = new Integer[n];
        for (int i = 0; i < n; i++) {
            boxed[i] = order[i];
        }
        java.util.Arrays.sort(boxed, (a, b) -> probs[a] > probs[b] ? -1 : probs[a] < probs[b] ? 1 : 0);
        for (int i = 0; i < n; i++) {
            order[i] = boxed[i];
        }
    }

    /** run.c's {@code random_f32}: xorshift64* ({@code random_u32}, unsigned shifts), its top 24 bits over 2^24. */
    private float randomF32() {
        state ^= state >>> 12;
        state ^= state << 25;
        state ^= state >>> 27;
        int u32 = (int) ((state * 0x2545F4914F6CDD1DL) >>> 32);
        return (u32 >>> 8) / 16777216.0f;
    }
}
