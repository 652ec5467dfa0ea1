package dev.jllm.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.TestSeeds;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The chain draws from the distribution llama.cpp's samplers define. Each test computes that distribution here, in
 * float64 and from the definitions ({@link #expected}: llama.cpp's {@code llama_sampler_*_apply} read as math, not
 * jllm's code), draws {@value #DRAWS} tokens with a fixed seed, and checks that tokens outside the kept set never
 * appear and that the counts pass a chi-square test at significance 1e-4. Each test also shows it can fail: the
 * same counts must be rejected against the distribution a plausible mistake would give (temperature applied before
 * top-p, the negative-logit branch of the repetition penalty dividing, a window one token too wide, ...).
 */
class SamplerDistributionTest {

    static final int DRAWS = 40_000;

    private static final float[] LOGITS = {2.0f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 1.5f, -3.0f};

    private static SamplerOptions options(float temperature, int topK, float topP, float minP) {
        return new SamplerOptions(temperature, topK, topP, minP, 1f, 64, seed());
    }

    private static long seed() {
        String test = StackWalker.getInstance().walk(frames -> frames.map(StackWalker.StackFrame::getMethodName)
                .filter(name -> !name.equals("seed") && !name.equals("options")).findFirst().orElseThrow());
        return TestSeeds.seed("SamplerDistributionTest." + test);
    }

    @Test
    void temperatureScalesTheLogits() {
        SamplerOptions o = options(0.7f, 0, 1f, 0f);
        int[] counts = draw(o, LOGITS, null);
        double[] p = softmax(LOGITS, 1 / 0.7, all(LOGITS.length));
        assertFits(counts, p);
        assertRejected(counts, softmax(LOGITS, 1, all(LOGITS.length)), "the temperature ignored");
        assertRejected(counts, softmax(LOGITS, 0.7, all(LOGITS.length)), "multiplied by the temperature");
    }

    @Test
    void topKKeepsTheKMostLikely() {
        SamplerOptions o = options(1.5f, 3, 1f, 0f);
        int[] counts = draw(o, LOGITS, null);
        // the three largest logits: 2.0 (0), 1.5 (6), 1.0 (1)
        assertFits(counts, softmax(LOGITS, 1 / 1.5, set(LOGITS.length, 0, 6, 1)));
        assertRejected(counts, softmax(LOGITS, 1 / 1.5, set(LOGITS.length, 0, 6, 1, 2)), "k + 1 kept");
    }

    /** llama.cpp's order puts the temperature last: top-p measures the untempered probabilities. */
    @Test
    void topPMeasuresTheDistributionBeforeTheTemperature() {
        SamplerOptions o = options(0.5f, 0, 0.85f, 0f);
        int[] counts = draw(o, LOGITS, null);
        // untempered: 0.405, 0.245 (6), 0.149 (1), 0.090 (2): cumulative 0.799 < 0.85 <= 0.889 keeps four
        boolean[] kept = set(LOGITS.length, 0, 6, 1, 2);
        assertEquals(toList(kept), toList(topPSet(LOGITS, 1, 0.85)));
        assertFits(counts, softmax(LOGITS, 1 / 0.5, kept));
        // tempered first (run.c's order): 0.633, 0.233 reach 0.85 with two
        assertEquals(toList(set(LOGITS.length, 0, 6)), toList(topPSet(LOGITS, 2, 0.85)));
        assertRejected(counts, softmax(LOGITS, 1 / 0.5, topPSet(LOGITS, 2, 0.85)), "top-p after the temperature");
    }

    @Test
    void minPMeasuresTheDistributionBeforeTheTemperature() {
        SamplerOptions o = options(2f, 0, 1f, 0.3f);
        int[] counts = draw(o, LOGITS, null);
        // untempered: p_i >= 0.3 p_max  <=>  l_i >= 2 + ln 0.3 = 0.796: tokens 0, 6, 1
        assertFits(counts, softmax(LOGITS, 0.5, set(LOGITS.length, 0, 6, 1)));
        // tempered by 2 first: l_i / 2 >= 1 + ln 0.3  <=>  l_i >= -0.408: also 2, 3
        assertRejected(counts, softmax(LOGITS, 0.5, set(LOGITS.length, 0, 6, 1, 2, 3)), "min-p after the temperature");
    }

    /** Positive logits are divided by the penalty, negative ones multiplied (both lose probability). */
    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        SamplerOptions o = new SamplerOptions(1f, 0, 1f, 0f, 1.8f, 64, seed());
        int[] history = {0, 4, 0, 4, 4};
        int[] counts = draw(o, LOGITS, history);
        float[] penalized = LOGITS.clone();
        penalized[0] = 2.0f / 1.8f;
        penalized[4] = -0.5f * 1.8f;
        assertFits(counts, softmax(penalized, 1, all(LOGITS.length)));
        float[] wrong = penalized.clone();
        wrong[4] = -0.5f / 1.8f;
        assertRejected(counts, softmax(wrong, 1, all(LOGITS.length)), "negative logits divided");
        assertRejected(counts, softmax(LOGITS, 1, all(LOGITS.length)), "no penalty");
    }

    /** Only the last repeat-last-n tokens of the history are penalized. */
    @Test
    void repetitionPenaltyLooksAtTheLastNTokensOnly() {
        SamplerOptions o = new SamplerOptions(1f, 0, 1f, 0f, 3f, 2, seed());
        int[] history = {0, 6, 1, 2};
        int[] counts = draw(o, LOGITS, history);
        float[] lastTwo = LOGITS.clone();
        lastTwo[1] /= 3f;
        lastTwo[2] /= 3f;
        assertFits(counts, softmax(lastTwo, 1, all(LOGITS.length)));
        float[] lastThree = lastTwo.clone();
        lastThree[6] /= 3f;
        assertRejected(counts, softmax(lastThree, 1, all(LOGITS.length)), "a window one token too wide");
    }

    /** Frequency counts each occurrence in the window, presence each token once; after the repetition penalty. */
    @Test
    void frequencyAndPresencePenaltiesSubtract() {
        SamplerOptions o = new SamplerOptions(1f, 0, 1f, 0f, 1.5f, 64, seed()).withPenalties(0.4f, 0.3f);
        int[] history = {0, 0, 0, 5, 6, 0};
        int[] counts = draw(o, LOGITS, history);
        float[] expected = LOGITS.clone();
        expected[0] = 2.0f / 1.5f - (4 * 0.3f + 0.4f);
        expected[5] = -1.0f * 1.5f - (1 * 0.3f + 0.4f);
        expected[6] = 1.5f / 1.5f - (1 * 0.3f + 0.4f);
        assertFits(counts, softmax(expected, 1, all(LOGITS.length)));
        float[] once = expected.clone();
        once[0] = 2.0f / 1.5f - (0.3f + 0.4f);
        assertRejected(counts, softmax(once, 1, all(LOGITS.length)), "frequency counted once");
    }

    /** The bias is added before anything else; -inf rules a token out. */
    @Test
    void logitBiasShiftsBeforeTheTemperature() {
        SamplerOptions o = options(0.5f, 0, 1f, 0f)
                .withLogitBias(List.of(new LogitBias(3, 1.25f), new LogitBias(0, Float.NEGATIVE_INFINITY)));
        int[] counts = draw(o, LOGITS, null);
        float[] biased = LOGITS.clone();
        biased[3] += 1.25f;
        assertFits(counts, softmax(biased, 2, set(LOGITS.length, 1, 2, 3, 4, 5, 6, 7)));
        biased[3] = LOGITS[3] + 1.25f / 2; // added after the temperature
        assertRejected(counts, softmax(biased, 2, set(LOGITS.length, 1, 2, 3, 4, 5, 6, 7)), "bias after temperature");
    }

    /** llama.cpp's defaults on a wider vocabulary, with a repetition penalty over a long history. */
    @Test
    void theDefaultChainOnARandomRow() {
        java.util.Random random = new java.util.Random(TestSeeds.seed("SamplerDistributionTest.row"));
        float[] row = new float[300];
        for (int i = 0; i < row.length; i++) {
            row[i] = (float) (random.nextGaussian() * 2.5);
        }
        int[] history = new int[100];
        for (int i = 0; i < history.length; i++) {
            history[i] = random.nextInt(row.length);
        }
        SamplerOptions o = new SamplerOptions(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, seed());
        int[] counts = draw(o, row, history);
        double[] p = expected(row, o, history);
        assertTrue(nonZero(p) > 5, "the chain keeps several tokens: " + nonZero(p));
        assertFits(counts, p);
        SamplerOptions noPenalty = new SamplerOptions(0.8f, 40, 0.95f, 0.05f, 1f, 64, 0);
        assertRejected(counts, expected(row, noPenalty, history), "the penalty ignored");
    }

    /** Another order: the temperature first, so top-p and min-p measure the tempered distribution. */
    @Test
    void anotherOrderIsFollowed() {
        SamplerOrder order = SamplerOrder.parse("temperature;top_k;top_p;min_p");
        SamplerOptions o = options(0.5f, 0, 0.85f, 0f).withOrder(order);
        int[] counts = draw(o, LOGITS, null);
        assertFits(counts, expected(LOGITS, o, null));
        assertFits(counts, softmax(LOGITS, 2, set(LOGITS.length, 0, 6)));
        assertRejected(counts, expected(LOGITS, o.withOrder(SamplerOrder.DEFAULT), null), "llama.cpp's default order");
    }

    /** A chain without temperature draws at temperature 1 (as llama.cpp), and one without penalties has none. */
    @Test
    void samplersLeftOutDoNothing() {
        SamplerOptions o = new SamplerOptions(0.25f, 4, 1f, 0f, 2f, 64, seed()).withOrder(SamplerOrder.parse("top_k"));
        int[] history = {0, 0, 6};
        int[] counts = draw(o, LOGITS, history);
        assertFits(counts, softmax(LOGITS, 1, set(LOGITS.length, 0, 6, 1, 2)));
        assertRejected(counts, softmax(LOGITS, 4, set(LOGITS.length, 0, 6, 1, 2)), "the temperature applied");
        float[] penalized = LOGITS.clone();
        penalized[0] /= 2;
        penalized[6] /= 2;
        assertRejected(counts, softmax(penalized, 1, set(LOGITS.length, 0, 6, 1, 2)), "the penalties applied");
    }

    /** The reference gives llama.cpp's chain on hand-checked cases (so the random-row test rests on it). */
    @Test
    void theReferenceAgreesWithHandComputedCases() {
        double[] topP = expected(LOGITS, options(0.5f, 0, 0.85f, 0f), null);
        assertArrayEquals(softmax(LOGITS, 2, set(LOGITS.length, 0, 6, 1, 2)), topP);
        double[] minP = expected(LOGITS, options(2f, 0, 1f, 0.3f), null);
        assertArrayEquals(softmax(LOGITS, 0.5, set(LOGITS.length, 0, 6, 1)), minP);
        double[] topK = expected(LOGITS, options(1f, 2, 1f, 0f), null);
        assertArrayEquals(softmax(LOGITS, 1, set(LOGITS.length, 0, 6)), topK);
    }

    private static void assertArrayEquals(double[] expected, double[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-12, "token " + i);
        }
    }

    // ---- the reference: llama.cpp's samplers as math, in float64 ----

    /** The probabilities with which llama.cpp's chain (in {@code o}'s order, temperature above 0) picks each token. */
    static double[] expected(float[] logits, SamplerOptions o, int[] history) {
        int n = logits.length;
        double[] l = new double[n];
        for (int i = 0; i < n; i++) {
            l[i] = logits[i];
        }
        for (LogitBias b : o.logitBias()) {
            l[b.token()] += b.bias();
        }
        boolean[] kept = all(n);
        for (SamplerOrder.Stage stage : ((SamplerOrder.Chain) o.order()).stages()) {
            switch (stage) {
                case PENALTIES -> {
                    if (history == null) {
                        break;
                    }
                    int[] seen = new int[n];
                    for (int i = Math.max(0, history.length - o.repeatLastN()); i < history.length; i++) {
                        seen[history[i]]++;
                    }
                    for (int id = 0; id < n; id++) {
                        if (seen[id] > 0) {
                            l[id] = l[id] > 0 ? l[id] / o.repeatPenalty() : l[id] * o.repeatPenalty();
                            l[id] -= seen[id] * (double) o.frequencyPenalty() + o.presencePenalty();
                        }
                    }
                }
                case TOP_K -> {
                    if (o.topK() > 0) {
                        Integer[] byLogit = sortedIds(l, kept);
                        for (int i = o.topK(); i < byLogit.length; i++) {
                            kept[byLogit[i]] = false;
                        }
                    }
                }
                case TOP_P -> {
                    if (o.topP() < 1f) {
                        double[] p = softmax(l, 1, kept);
                        double cumulative = 0;
                        boolean reached = false;
                        for (int id : sortedIds(l, kept)) {
                            if (reached) {
                                kept[id] = false;
                            }
                            cumulative += p[id];
                            reached |= cumulative >= o.topP();
                        }
                    }
                }
                case MIN_P -> {
                    double[] p = softmax(l, 1, kept);
                    double max = Arrays.stream(p).max().orElseThrow();
                    for (int id = 0; id < n; id++) {
                        kept[id] &= p[id] >= o.minP() * max;
                    }
                }
                case TEMPERATURE -> {
                    for (int id = 0; id < n; id++) {
                        l[id] /= o.temperature();
                    }
                }
            }
        }
        return softmax(l, 1, kept);
    }

    private static Integer[] sortedIds(double[] l, boolean[] kept) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < l.length; i++) {
            if (kept[i]) {
                ids.add(i);
            }
        }
        ids.sort((a, b) -> Double.compare(l[b], l[a]));
        return ids.toArray(Integer[]::new);
    }

    /** The smallest most-likely set whose probabilities, at logits times {@code scale}, reach p. */
    private static boolean[] topPSet(float[] logits, double scale, double p) {
        double[] probs = softmax(logits, scale, all(logits.length));
        double[] l = new double[logits.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = logits[i];
        }
        boolean[] kept = new boolean[logits.length];
        double cumulative = 0;
        for (int id : sortedIds(l, all(logits.length))) {
            kept[id] = true;
            cumulative += probs[id];
            if (cumulative >= p) {
                break;
            }
        }
        return kept;
    }

    /** softmax(scale * logits) over the kept tokens, 0 elsewhere. */
    static double[] softmax(float[] logits, double scale, boolean[] kept) {
        double[] l = new double[logits.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = logits[i];
        }
        return softmax(l, scale, kept);
    }

    static double[] softmax(double[] l, double scale, boolean[] kept) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < l.length; i++) {
            if (kept[i]) {
                max = Math.max(max, scale * l[i]);
            }
        }
        double[] p = new double[l.length];
        double sum = 0;
        for (int i = 0; i < l.length; i++) {
            if (kept[i] && l[i] != Double.NEGATIVE_INFINITY) {
                p[i] = Math.exp(scale * l[i] - max);
                sum += p[i];
            }
        }
        for (int i = 0; i < l.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    static boolean[] all(int n) {
        boolean[] b = new boolean[n];
        Arrays.fill(b, true);
        return b;
    }

    static boolean[] set(int n, int... ids) {
        boolean[] b = new boolean[n];
        for (int id : ids) {
            b[id] = true;
        }
        return b;
    }

    private static List<Integer> toList(boolean[] b) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < b.length; i++) {
            if (b[i]) {
                ids.add(i);
            }
        }
        return ids;
    }

    private static int nonZero(double[] p) {
        return (int) Arrays.stream(p).filter(x -> x > 0).count();
    }

    // ---- drawing and the chi-square test ----

    static int[] draw(SamplerOptions o, float[] logits, int[] history) {
        Sampler sampler = new Sampler(o);
        int[] counts = new int[logits.length];
        for (int i = 0; i < DRAWS; i++) {
            counts[sampler.sample(logits, 0, logits.length, history, history == null ? 0 : history.length)]++;
        }
        return counts;
    }

    /** Tokens of probability 0 never drawn, and the counts within the chi-square bound at significance 1e-4. */
    static void assertFits(int[] counts, double[] p) {
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " cannot be drawn, yet was");
            }
        }
        ChiSquare c = chiSquare(counts, p);
        assertTrue(c.statistic <= c.critical(3.719), "chi-square " + c + ", counts " + Arrays.toString(counts)
                + ", expected " + Arrays.toString(Arrays.stream(p).map(x -> x * DRAWS).toArray()));
    }

    /** The counts do not fit {@code wrong}: a token it cannot give was drawn, or the chi-square is far beyond bound. */
    static void assertRejected(int[] counts, double[] wrong, String mistake) {
        for (int i = 0; i < wrong.length; i++) {
            if (wrong[i] == 0 && counts[i] > 0) {
                return;
            }
        }
        ChiSquare c = chiSquare(counts, wrong);
        assertTrue(c.statistic > c.critical(3.719), "the test cannot tell the chain from one with this mistake: "
                + mistake + " (chi-square " + c + ")");
    }

    record ChiSquare(double statistic, int degreesOfFreedom) {
        /** The chi-square quantile for the normal quantile z (Wilson-Hilferty; z 3.719 is significance 1e-4). */
        double critical(double z) {
            double k = degreesOfFreedom;
            double a = 2 / (9 * k);
            return k * Math.pow(1 - a + z * Math.sqrt(a), 3);
        }
    }

    /** Pearson's statistic over the tokens of nonzero probability, bins under 5 expected draws pooled. */
    static ChiSquare chiSquare(int[] counts, double[] p) {
        double statistic = 0;
        int bins = 0;
        double pooledExpected = 0;
        int pooledObserved = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                continue;
            }
            double e = p[i] * DRAWS;
            if (e < 5) {
                pooledExpected += e;
                pooledObserved += counts[i];
                continue;
            }
            statistic += (counts[i] - e) * (counts[i] - e) / e;
            bins++;
        }
        if (pooledExpected > 0) {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected;
            bins++;
        }
        return new ChiSquare(statistic, Math.max(1, bins - 1));
    }
}
