package dev.jllm.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {

    private static final float[] LOGITS = {1f, 5f, 3f, 4.9f, -2f, 0f};

    private static SamplerOptions options(float temp, int topK, float topP, float minP, float penalty, long seed) {
        return new SamplerOptions(temp, topK, topP, minP, penalty, 64, seed);
    }

    @Test
    void greedyPicksTheLargestLogit() {
        assertEquals(1, new Sampler(SamplerOptions.greedy()).sample(LOGITS, 0, LOGITS.length, null, 0));
    }

    @Test
    void greedyReadsTheRowAtItsOffset() {
        float[] two = {9f, 0f, 0f, 0f, 1f, 0f, 7f, 0f};
        assertEquals(2, new Sampler(SamplerOptions.greedy()).sample(two, 4, 4, null, 0));
    }

    @Test
    void topKOfOneIsGreedyAtAnyTemperature() {
        Sampler s = new Sampler(options(5f, 1, 1f, 0f, 1f, 7));
        for (int i = 0; i < 100; i++) {
            assertEquals(1, s.sample(LOGITS, 0, LOGITS.length, null, 0));
        }
    }

    @Test
    void topKTwoDrawsOnlyTheTwoBest() {
        Sampler s = new Sampler(options(10f, 2, 1f, 0f, 1f, 11));
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 500; i++) {
            seen.add(s.sample(LOGITS, 0, LOGITS.length, null, 0));
        }
        assertEquals(Set.of(1, 3), seen);
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        // probabilities at temperature 1: token 1 ~0.48, token 3 ~0.44, token 2 ~0.065: p = 0.9 keeps {1, 3}
        Sampler s = new Sampler(options(1f, 0, 0.9f, 0f, 1f, 5));
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 2000; i++) {
            seen.add(s.sample(LOGITS, 0, LOGITS.length, null, 0));
        }
        assertEquals(Set.of(1, 3), seen);
    }

    @Test
    void minPDropsUnlikelyTokens() {
        Sampler s = new Sampler(options(1f, 0, 1f, 0.5f, 1f, 5));
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 2000; i++) {
            seen.add(s.sample(LOGITS, 0, LOGITS.length, null, 0));
        }
        assertEquals(Set.of(1, 3), seen);
    }

    @Test
    void highTemperatureReachesEveryToken() {
        Sampler s = new Sampler(options(100f, 0, 1f, 0f, 1f, 3));
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 5000; i++) {
            seen.add(s.sample(LOGITS, 0, LOGITS.length, null, 0));
        }
        assertEquals(6, seen.size());
    }

    @Test
    void sameSeedSameDraws() {
        Sampler a = new Sampler(options(1f, 0, 1f, 0f, 1f, 1234));
        Sampler b = new Sampler(options(1f, 0, 1f, 0f, 1f, 1234));
        Sampler c = new Sampler(options(1f, 0, 1f, 0f, 1f, 4321));
        StringBuilder sa = new StringBuilder();
        StringBuilder sb = new StringBuilder();
        StringBuilder sc = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            sa.append(a.sample(LOGITS, 0, LOGITS.length, null, 0));
            sb.append(b.sample(LOGITS, 0, LOGITS.length, null, 0));
            sc.append(c.sample(LOGITS, 0, LOGITS.length, null, 0));
        }
        assertEquals(sa.toString(), sb.toString());
        assertNotEquals(sa.toString(), sc.toString());
    }

    @Test
    void repetitionPenaltyTurnsGreedyAwayFromRecentTokens() {
        Sampler s = new Sampler(options(0f, 0, 1f, 0f, 1.1f, 0));
        assertEquals(3, s.sample(LOGITS, 0, LOGITS.length, new int[] {1}, 1), "5/1.1 < 4.9");
        assertEquals(1, s.sample(LOGITS, 0, LOGITS.length, new int[] {1, 0}, 0), "empty history: no penalty");
        float[] copy = LOGITS.clone();
        s.sample(copy, 0, copy.length, new int[] {1}, 1);
        assertEquals(LOGITS[1], copy[1], "the caller's logits are not changed");
    }

    @Test
    void frequencyPenaltyCountsEachOccurrenceInTheWindow() {
        int[] history = {1, 2, 1};
        // token 1 seen twice: 5 - 2 x 0.1 = 4.8 < 4.9
        assertEquals(3, new Sampler(options(0f, 0, 1f, 0f, 1f, 0).withPenalties(0f, 0.1f))
                .sample(LOGITS, 0, LOGITS.length, history, 3));
        // 5 - 2 x 0.04 = 4.92 > 4.9
        assertEquals(1, new Sampler(options(0f, 0, 1f, 0f, 1f, 0).withPenalties(0f, 0.04f))
                .sample(LOGITS, 0, LOGITS.length, history, 3));
        // a window of the last token only
        SamplerOptions lastOne = new SamplerOptions(0f, 0, 1f, 0f, 1f, 1, 0).withPenalties(0f, 0.2f);
        assertEquals(3, new Sampler(lastOne).sample(LOGITS, 0, LOGITS.length, history, 3), "5 - 0.2 < 4.9");
        assertEquals(1, new Sampler(lastOne).sample(LOGITS, 0, LOGITS.length, history, 2), "window holds token 2 only");
    }

    @Test
    void presencePenaltyCountsATokenOnce() {
        int[] history = {1, 1, 1, 1};
        assertEquals(1, new Sampler(options(0f, 0, 1f, 0f, 1f, 0).withPenalties(0.05f, 0f))
                .sample(LOGITS, 0, LOGITS.length, history, 4), "5 - 0.05 > 4.9 however often it was seen");
        assertEquals(3, new Sampler(options(0f, 0, 1f, 0f, 1f, 0).withPenalties(0.2f, 0f))
                .sample(LOGITS, 0, LOGITS.length, history, 4));
        assertEquals(4, new Sampler(options(0f, 0, 1f, 0f, 1f, 0).withPenalties(-10f, 0f))
                .sample(LOGITS, 0, LOGITS.length, new int[] {4}, 1), "a negative penalty favours the token: -2 + 10");
    }

    /** llama.cpp's order: the repetition penalty first, then frequency and presence subtracted. */
    @Test
    void penaltiesCombineInLlamaCppOrder() {
        float[] logits = {2f, 1.9f, -1f};
        // token 0: 2 / 2 - (1 x 0.5 + 0.3) = 0.2; token 1 is not penalized: 1.9 wins
        Sampler s = new Sampler(new SamplerOptions(0f, 0, 1f, 0f, 2f, 64, 0).withPenalties(0.3f, 0.5f));
        assertEquals(1, s.sample(logits, 0, 3, new int[] {0}, 1));
        // token 2 (negative): -1 x 2 - 0.8 = -2.8; token 0 and 1 both penalized: 0.2 and 1.9 / 2 - 0.8 = 0.15
        assertEquals(0, s.sample(logits, 0, 3, new int[] {0, 1, 2}, 3));
    }

    @Test
    void withoutPresenceAndFrequencyTheRepetitionPenaltyIsUnchanged() {
        // The formula before presence and frequency existed: each distinct recent token once, x / p or x * p.
        float[] logits = {3f, -2f, 0.5f, 2.9f, 1f};
        int[] history = {0, 1, 0, 2, 1, 0};
        float penalty = 1.3f;
        float[] expected = logits.clone();
        for (int id : new int[] {0, 1, 2}) {
            expected[id] = expected[id] > 0 ? expected[id] / penalty : expected[id] * penalty;
        }
        for (long seed = 1; seed <= 50; seed++) {
            Sampler reference = new Sampler(options(0.9f, 0, 1f, 0f, 1f, seed));
            Sampler penalized = new Sampler(options(0.9f, 0, 1f, 0f, penalty, seed));
            assertEquals(reference.sample(expected, 0, 5, null, 0), penalized.sample(logits, 0, 5, history, 6));
        }
    }

    @Test
    void logprobsAreTheLogSoftmaxOfTheRawLogits() {
        float[] row = {0f, 0f, 1f, 5f, 3f, 4.9f, -2f, 0f};
        TokenLogprobs lp = TokenLogprobs.of(row, 2, 6, 2, 3);
        double sum = 0;
        for (int i = 2; i < 8; i++) {
            sum += Math.exp(row[i]);
        }
        assertEquals((float) (3 - Math.log(sum)), lp.logprob(), 1e-6f);
        assertEquals(2, lp.token());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {1, 3, 2}, lp.topTokens());
        for (int i = 0; i < 3; i++) {
            assertEquals((float) (row[2 + lp.topTokens()[i]] - Math.log(sum)), lp.topLogprobs()[i], 1e-6f);
        }
        TokenLogprobs ties = TokenLogprobs.of(new float[] {1f, 2f, 2f, 2f}, 0, 4, 0, 2);
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {1, 2}, ties.topTokens(), "ties: lower id first");
        assertEquals(0, TokenLogprobs.of(LOGITS, 0, LOGITS.length, 1, 0).topTokens().length);
        assertThrows(IllegalArgumentException.class, () -> TokenLogprobs.of(LOGITS, 0, LOGITS.length, 6, 1));
    }

    /**
     * The chain as it was written first (every candidate sorted, stably, by Float.compare), kept here as the reference:
     * the top-k selection must draw the very same tokens.
     */
    private static int referenceDraw(float[] row, SamplerOptions o, double r) {
        record Candidate(int id, float logit) {
        }
        Candidate[] c = new Candidate[row.length];
        for (int i = 0; i < row.length; i++) {
            c[i] = new Candidate(i, row[i]);
        }
        java.util.Arrays.sort(c, (a, b) -> Float.compare(b.logit(), a.logit()));
        int keep = o.topK() > 0 ? Math.min(row.length, o.topK()) : row.length;
        java.util.function.BiFunction<Integer, Float, double[]> softmax = (count, t) -> {
            double[] p = new double[count];
            double max = c[0].logit() / t;
            double sum = 0;
            for (int i = 0; i < count; i++) {
                p[i] = Math.exp(c[i].logit() / t - max);
                sum += p[i];
            }
            for (int i = 0; i < count; i++) {
                p[i] /= sum;
            }
            return p;
        };
        double[] probs = softmax.apply(keep, 1f);
        if (o.topP() < 1f) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += probs[i];
                if (cumulative >= o.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            probs = softmax.apply(keep, 1f);
        }
        if (o.minP() > 0f) {
            double threshold = probs[0] * o.minP();
            int k = 1;
            while (k < keep && probs[k] >= threshold) {
                k++;
            }
            keep = k;
        }
        probs = softmax.apply(keep, o.temperature());
        double cumulative = 0;
        for (int i = 0; i < keep; i++) {
            cumulative += probs[i];
            if (r < cumulative) {
                return c[i].id();
            }
        }
        return c[keep - 1].id();
    }

    /** The same xorshift64* draws as the sampler's, for the reference. */
    private static final class Draws {
        private long state;

        Draws(long seed) {
            state = seed == 0 ? 0x9E3779B97F4A7C15L : seed;
        }

        double next() {
            state ^= state >>> 12;
            state ^= state << 25;
            state ^= state >>> 27;
            return ((state * 0x2545F4914F6CDD1DL) >>> 11) * 0x1.0p-53;
        }
    }

    @Test
    void topKSelectionDrawsWhatSortingEveryCandidateDrew() {
        java.util.Random random = new java.util.Random(11);
        for (int round = 0; round < 15; round++) {
            int vocab = 50 + random.nextInt(2000);
            float[] row = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                // few distinct values: many ties, and both zeros
                row[i] = random.nextInt(10) == 0 ? (random.nextBoolean() ? 0f : -0f) : random.nextInt(40) / 4f;
            }
            for (int topK : new int[] {0, 1, 7, 40, vocab - 1, vocab, vocab + 5}) {
                for (float topP : new float[] {1f, 0.9f}) {
                    SamplerOptions o = new SamplerOptions(0.3f + random.nextFloat() * 1.5f, topK, topP,
                            random.nextBoolean() ? 0f : 0.05f, 1f, 64, round + 1L);
                    Sampler sampler = new Sampler(o);
                    Draws draws = new Draws(o.seed());
                    for (int i = 0; i < 20; i++) {
                        assertEquals(referenceDraw(row, o, draws.next()), sampler.sample(row, 0, vocab, null, 0),
                                "round " + round + ", " + o + ", draw " + i);
                    }
                }
            }
        }
    }

    @Test
    void badOptionsAreRejectedNamingTheOptionAndValue() {
        assertRejected("top-k must be 0 (off) or positive, got -1", () -> options(1f, -1, 1f, 0f, 1f, 0));
        assertRejected("top-p must be in (0, 1], got 0.0", () -> options(1f, 0, 0f, 0f, 1f, 0));
        assertRejected("top-p must be in (0, 1], got 1.5", () -> options(1f, 0, 1.5f, 0f, 1f, 0));
        assertRejected("min-p must be in [0, 1], got 2.0", () -> options(1f, 0, 1f, 2f, 1f, 0));
        assertRejected("repeat penalty must be positive, got 0.0", () -> options(1f, 0, 1f, 0f, 0f, 0));
        assertRejected("temperature is NaN", () -> options(Float.NaN, 0, 1f, 0f, 1f, 0));
        // The edges that are allowed.
        options(0f, 0, 1f, 1f, 0.01f, 0);
        options(-1f, 0, Float.MIN_VALUE, 0f, 1f, 0);
        assertThrows(IllegalArgumentException.class, () -> options(1f, 0, 1f, 0f, 1f, 0).withPenalties(Float.NaN, 0f));
        assertThrows(IllegalArgumentException.class,
                () -> options(1f, 0, 1f, 0f, 1f, 0).withPenalties(0f, Float.POSITIVE_INFINITY));
    }

    private static void assertRejected(String message, org.junit.jupiter.api.function.Executable make) {
        assertEquals(message, assertThrows(IllegalArgumentException.class, make).getMessage());
    }
}
