package dev.jllm.engine;

import dev.jllm.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Teacher-forced logits against llama.cpp on the random-weight models: synth256 in every block type (K-quants and
 * IQ4 included, and the Q4_K_M mixture), and the Llama 3 architecture file (GQA 4:1, tied output, rope_freqs
 * scaling) within 0.05, including after a 2,081-token prompt where the rope scaling matters.
 */
class RandomModelGoldenTest {

    /**
     * After the prompt every logit within 0.03; at every step the top 5 within the step tolerance and our top token
     * llama.cpp's wherever its top two differ by more than that. Measured 2026-12-03: q4_1, q5_0, q5_1,
     * q4_k_m-mixed, q5_k_m and iq4_xs give llama.cpp's logits at every step (to the golden file's six digits): the
     * K-quant and IQ4 dot products and the Q8_K rounding are ggml's bit for bit (BlockKernelTest; also checked
     * against ggml's own functions), and RMSNorm rounds as ggml's. The others drift after a rounding flip: f16 by up
     * to 0.0019 (llama.cpp multiplies F16 prompts with tinyBLAS, in another order), iq4_nl 0.026 from step 13
     * (llama.cpp sums IQ4_NL in one order for a single token and in tinyBLAS's for a batch; jllm uses tinyBLAS's for
     * both, so that a token's result does not depend on its batch), q2_k 0.021 and q4_k_m 0.024 from step 61, q6_k
     * 0.034 from step 37 and q3_k_m 0.039 from step 20: flips outside the matrix products (q6_k's goes away when
     * RoPE takes its cosines and sines from the C library's cosf and sinf, which differ from Math.cos and Math.sin
     * rounded to float by one ulp for about 2.6% of the angles). Those two are held to 0.04, and the drifting files
     * accept a near-equal fifth token in place of llama.cpp's.
     */
    @ParameterizedTest
    @CsvSource({"f16, 0.03, true", "q4_1, 0.03, false", "q5_0, 0.03, false", "q5_1, 0.03, false",
        "q2_k, 0.03, true", "q3_k_m, 0.04, true", "q4_k_m, 0.03, true", "q4_k_m-mixed, 0.03, false",
        "q5_k_m, 0.03, false", "q6_k, 0.04, true", "iq4_nl, 0.03, true", "iq4_xs, 0.03, false"})
    void synth256(String type, double stepTolerance, boolean allowTies) {
        try (Model model = Model.load(SharedData.model("synth256/synth256-" + type + ".gguf"), null)) {
            TeacherForcing.check(model, SharedData.json(SharedData.golden("synth256/golden_synth256-" + type + ".json")),
                    0.03, stepTolerance, allowTies, true, model.defaultContextSize(), true);
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
