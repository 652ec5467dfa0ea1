package dev.jllm.engine;

import dev.jllm.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Teacher-forced logits against llama.cpp on the random-weight models: synth256 in every block type jllm computes
 * with (within 0.03), and the Llama 3 architecture file (GQA 4:1, tied output, rope_freqs scaling) within 0.05,
 * including after a 2,081-token prompt where the rope scaling matters.
 */
class RandomModelGoldenTest {

    /**
     * After the prompt every logit within 0.03; at the steps the top 5 within 0.03, except Q5_0, whose run meets one
     * 8-bit rounding flip of llama.cpp's activations at step 21 and then drifts by up to 0.047 (measured 2026-11-22;
     * the others stay within 0.0012 (F16) and 5e-6 (Q4_1, Q5_1)); see LlamaCppGoldenTest for why such flips happen.
     */
    @ParameterizedTest
    @CsvSource({"f16, 0.03, false", "q4_1, 0.03, false", "q5_0, 0.06, true", "q5_1, 0.03, false"})
    void synth256(String type, double stepTolerance, boolean allowTies) {
        try (Model model = Model.load(SharedData.model("synth256/synth256-" + type + ".gguf"), null)) {
            TeacherForcing.check(model, SharedData.json(SharedData.golden("synth256/golden_synth256-" + type + ".json")),
                    0.03, stepTolerance, allowTies, true, model.defaultContextSize());
        }
    }

    @Test
    void llama3TinyShortPrompt() {
        try (Model model = Model.load(SharedData.model("llama3-tiny-q8_0.gguf"), null)) {
            com.fasterxml.jackson.databind.JsonNode golden = SharedData.json(SharedData.golden("llama3-tiny/golden_short.json"));
            org.junit.jupiter.api.Assertions.assertArrayEquals(SharedData.ints(golden.get("prompt_ids")),
                    model.tokenizer().encode(golden.get("prompt").asText(), true, false), "Llama 3 prompt tokens");
            TeacherForcing.check(model, SharedData.json(SharedData.golden("llama3-tiny/golden_short.json")), 0.05, false,
                    256);
        }
    }

    @Test
    void llama3TinyLongPrompt() {
        try (Model model = Model.load(SharedData.model("llama3-tiny-q8_0.gguf"), null)) {
            TeacherForcing.check(model, SharedData.json(SharedData.golden("llama3-tiny/golden_long.json")), 0.05, false,
                    2112);
        }
    }
}
