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
    }

    private static void assertRejected(String message, org.junit.jupiter.api.function.Executable make) {
        assertEquals(message, assertThrows(IllegalArgumentException.class, make).getMessage());
    }
}
