package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Against llama.cpp on the stories260K GGUF files: exact greedy tokens for F32, and teacher-forced logits (llama.cpp's
 * tokens fed in) for every type: after the prompt the whole row, and at each of the 200 steps the five largest
 * logits are the same tokens with values within the tolerance.
 */
class LlamaCppGoldenTest {

    private static Model f32;
    /** The quantized files with {@code --no-repack}: the products in ggml's own summation orders. */
    private static Model q8;
    private static Model q4;
    /** The same files repacked (the default since issue 13): each block's exact sum, the blocks added in order. */
    private static Model q8Repacked;
    private static Model q4Repacked;

    @BeforeAll
    static void load() {
        f32 = Model.load(SharedData.model("stories260K-f32.gguf"), null);
        q8 = Model.load(SharedData.model("stories260K-q8_0-mixed.gguf"), null, false);
        q4 = Model.load(SharedData.model("stories260K-q4_0-mixed.gguf"), null, false);
        q8Repacked = Model.load(SharedData.model("stories260K-q8_0-mixed.gguf"), null);
        q4Repacked = Model.load(SharedData.model("stories260K-q4_0-mixed.gguf"), null);
    }

    @AfterAll
    static void close() {
        f32.close();
        q8.close();
        q4.close();
        q8Repacked.close();
        q4Repacked.close();
    }

    private static Model model(String type) {
        return switch (type) {
            case "f32" -> f32;
            case "q8_0-mixed" -> q8;
            case "q4_0-mixed" -> q4;
            case "q8_0-mixed repacked" -> q8Repacked;
            case "q4_0-mixed repacked" -> q4Repacked;
            default -> throw new IllegalArgumentException(type);
        };
    }

    @ParameterizedTest
    @CsvSource({"1", "2", "3"})
    void greedyF32MatchesLlamaCppTokenForToken(int prompt) {
        JsonNode golden = SharedData.json(SharedData.golden("llamacpp_f32_p" + prompt + ".json"));
        int[] promptIds = SharedData.ints(golden.get("prompt_ids"));
        int[] expected = SharedData.ints(golden.get("generated_ids"));
        assertArrayEquals(promptIds, f32.tokenizer().encode(golden.get("prompt").asText(), true, false),
                "prompt tokens");
        Session session = f32.newSession(SessionOptions.defaults(256));
        Generation g = Generator.generate(f32, session, golden.get("prompt").asText(),
                GenerationOptions.greedy(expected.length), null);
        assertArrayEquals(expected, g.generatedIds());
        assertEquals(golden.get("text").asText(), g.text());
    }

    /*
     * Tolerances. jllm rounds as llama.cpp's CPU backend rounds (keys, values, queries and softmax weights to FP16 for
     * the attention over the FP16 cache; for Q8_0/Q4_0 weights every activation to 8-bit blocks) and sums in ggml's
     * order, so until a rounding flip its logits are llama.cpp's to the six digits the golden files print: within 8e-5
     * for F32 (the printing alone allows 5e-5 at logits of 10 to 20; some F32 sums differ from ggml's in the last bit)
     * and 5e-5 for Q8_0 and Q4_0, after the prompt and at every step before the flip (measured 2026-12-03). Each run is
     * held to EXACT there: ten times tighter than the 1e-3 (F32) and 500 times than the 0.05 (quantized) the issue
     * asked for.
     *
     * A rounding flip: a value that lies closer to a rounding boundary (halfway between two FP16 numbers, or between two
     * 8-bit steps of an activation block) than jllm's and llama.cpp's values of it differ rounds one way in llama.cpp
     * and the other in jllm. The values pinned down below lay 0 (F32 p3's query: exactly on the boundary) and 111 to
     * 850 float ulps (attention outputs scaled by 127 / amax) from their boundary.
     * A flipped key or value stays in the cache, and a flipped query, softmax weight or activation moves the keys and
     * values of the later layers at that position, so every later logit moves. Detection: the first step at which one
     * of llama.cpp's five logits is more than EXACT from jllm's. It is a jump, not a slow drift: the error goes from at
     * most 8e-5 to at least 4.8e-4 (F32) or 3.5e-2 (quantized) in one step, and any threshold from 1e-4 to 4.7e-4 finds
     * the same step. Four first flips are pinned down (roundingTheFlippedValueTheOtherWayFollowsLlamaCpp): rounded to
     * its other neighbour, one value at the flip's position brings jllm back onto llama.cpp's logits, within EXACT, for
     * the steps that follow. For F32 p1 and p2 no single query, key or value rounding at the flip's position does so;
     * theirs are presumably in a softmax weight, whose FP16 rounding the engine does not expose to look at.
     *
     * After the flip the logits drift by up to (measured, 2026-12-03) F32 0.0041 / 0.0020 / 0.011 (p1 / p2 / p3), Q8_0
     * p3 0.17, Q4_0 p1 0.092 and p3 0.14; Q8_0 p1 and p2 and Q4_0 p2 meet no flip in 200 steps. Changing only the
     * summation order of jllm's own F32 products (float vs double) moves its F32 logits by up to 0.0055 over the same
     * steps (measured 2026-11-22): the drift is the arithmetic, not a modelling error, which would be off by whole units
     * from the first step.
     * DRIFT_F32 and DRIFT_QUANTIZED bound it. A quantized kernel that sums in another order than ggml's moves the
     * flips (a flip earlier than measured fails the test, a later one asks for the step to be updated): measure the
     * first flips and the drift again and update them here.
     *
     * All of the above is the quantized files with --no-repack (ggml's summation orders). Repacked (the default since
     * issue 13), every Q8_0 and Q4_0 matrix sums each block's exact integer sum and then one float FMA per block in
     * block order, where ggml sums Q8_0 (and Q4_0 matrices whose row count is not a multiple of 8, as here) in eight
     * lanes: the same integers, other float roundings. After the prompt they agree within 6e-6, but no run stays on
     * llama.cpp's roundings for 200 steps; measured worst step differences (2026-12-03): Q8_0 0.185 / 0.149 / 0.174,
     * Q4_0 0.169 / 0.071 / 0.142, within DRIFT_QUANTIZED (repackedRunsStayWithinTheDrift).
     */
    static final double EXACT = 1e-4;
    static final double DRIFT_F32 = 0.02;
    static final double DRIFT_QUANTIZED = 0.25;

    /** The first rounding flip of each run, measured 2026-12-03 (200: none in the 200 steps). */
    @ParameterizedTest(name = "{0} p{1}: first flip at step {2}")
    @CsvSource({
        "f32, 1, 146", "f32, 2, 8", "f32, 3, 58",
        "q8_0-mixed, 1, 200", "q8_0-mixed, 2, 200", "q8_0-mixed, 3, 193",
        "q4_0-mixed, 1, 187", "q4_0-mixed, 2, 200", "q4_0-mixed, 3, 16"})
    void teacherForcedLogitsMatchLlamaCppUntilTheFirstFlip(String type, int prompt, int firstFlip) {
        Path file = SharedData.golden("llamacpp_" + type + "_p" + prompt + ".json");
        boolean quantized = !type.equals("f32");
        TeacherForcing.checkSplitAtFirstFlip(model(type), SharedData.json(file), EXACT, firstFlip,
                quantized ? DRIFT_QUANTIZED : DRIFT_F32, quantized, 256);
    }

    /**
     * Why the runs part from llama.cpp at their first flip, shown for four of them: jllm's value at the flip's position
     * (the query of layer L, rounded to FP16 for its products with the cache, or the attention output of layer L,
     * rounded to an 8-bit block before the output projection) is rounded to its other neighbour, as llama.cpp's value,
     * a few float ulps away, must have been; jllm then follows llama.cpp's logits within EXACT from that step up to a
     * later flip. Found (2026-12-03) by trying, at the flip's position, the values nearest a rounding boundary one by
     * one: F32 p3's query 58 lies exactly halfway between two FP16 numbers in jllm. Q4_0 p3's flip is as well undone by
     * rounding layer 2's key 29 at position 20 to its other FP16 neighbour: the two roundings are linked (the key moves
     * the attention output), and either brings jllm back to step 129. Q4_0 p1 meets a second flip at step 188 (layer 2,
     * position 192, attention output 25), after which it follows llama.cpp to the end.
     */
    @ParameterizedTest(name = "{0} p{1}: {4} {5} of layer {3} at position {2}, then llama.cpp''s logits up to step {6}")
    @CsvSource({
        "f32, 3, 62, 0, q, 58, 98",
        "q8_0-mixed, 3, 197, 0, attn, 10, 200",
        "q4_0-mixed, 1, 191, 2, attn, 21, 188",
        "q4_0-mixed, 3, 20, 2, attn, 57, 129"})
    void roundingTheFlippedValueTheOtherWayFollowsLlamaCpp(String type, int prompt, int position, int layer,
            String name, int index, int nextFlip) {
        Model m = model(type);
        int[] next = {0};
        int[] seen = {0};
        m.setActivationObserver((l, n, data, batch, width) -> {
            if (l == 0 && n.equals("x")) {
                next[0] += batch; // a pass starts: its rows are the positions up to next[0]
            }
            int row = position - (next[0] - batch);
            if (l == layer && n.equals(name) && row >= 0 && row < batch) {
                int i = row * width + index;
                data[i] = name.equals("q") ? otherHalfNeighbour(data[i]) : otherEightBitStep(data, row * width, index);
                seen[0]++;
            }
        });
        try {
            Path file = SharedData.golden("llamacpp_" + type + "_p" + prompt + ".json");
            boolean quantized = !type.equals("f32");
            TeacherForcing.checkSplitAtFirstFlip(m, SharedData.json(file), EXACT, nextFlip,
                    quantized ? DRIFT_QUANTIZED : DRIFT_F32, quantized, 256);
        } finally {
            m.setActivationObserver(null);
        }
        assertEquals(1, seen[0], "the value was rounded the other way once");
    }

    /**
     * The repacked files (the default): within EXACT after each prompt (measured 6e-6), and within the drift at every
     * step; their flips are not pinned (another summation order than ggml's meets other roundings).
     */
    @ParameterizedTest(name = "{0} repacked p{1}")
    @CsvSource({"q8_0-mixed, 1", "q8_0-mixed, 2", "q8_0-mixed, 3", "q4_0-mixed, 1", "q4_0-mixed, 2", "q4_0-mixed, 3"})
    void repackedRunsStayWithinTheDrift(String type, int prompt) {
        Path file = SharedData.golden("llamacpp_" + type + "_p" + prompt + ".json");
        TeacherForcing.check(model(type + " repacked"), SharedData.json(file), EXACT, DRIFT_QUANTIZED, true, false, 256);
    }

    /** x moved to the FP16 number on the other side of the rounding boundary nearest to x. */
    private static float otherHalfNeighbour(float x) {
        short h = Float.floatToFloat16(x);
        int magnitude = h & 0x7fff;
        int other = Math.abs(x) > Math.abs(Float.float16ToFloat(h)) ? magnitude + 1 : magnitude - 1;
        return Float.float16ToFloat((short) ((h & 0x8000) | other));
    }

    /**
     * The value at {@code offset + index} moved just past the nearest half-step of its 8-bit block of 32 (ggml's
     * Q8_0: id = 127 / amax, q = round(x * id)), so that it rounds to the other step; not the block's largest value.
     */
    private static float otherEightBitStep(float[] data, int offset, int index) {
        int block = offset + index / 32 * 32;
        float amax = 0;
        for (int i = block; i < block + 32; i++) {
            amax = Math.max(amax, Math.abs(data[i]));
        }
        float x = data[offset + index];
        assertTrue(Math.abs(x) < amax, "not the block's largest value");
        float id = 127f / amax;
        float t = x * id;
        float q = (float) Math.rint(t);
        float other = t > q ? q + 1 : q - 1;
        return ((q + other) / 2 + 0.01f * (other - q)) / id;
    }
}
