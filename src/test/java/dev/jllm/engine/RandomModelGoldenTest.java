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
     * accept a near-equal fifth token in place of llama.cpp's. These runs are the direct path ({@code --no-repack},
     * ggml's summation orders); repacked K-quants are {@link #synth256Repacked}.
     */
    @ParameterizedTest
    @CsvSource({"f16, 0.03, true", "q4_1, 0.03, false", "q5_0, 0.03, false", "q5_1, 0.03, false",
        "q2_k, 0.03, true", "q3_k_m, 0.04, true", "q4_k_m, 0.03, true", "q4_k_m-mixed, 0.03, false",
        "q5_k_m, 0.03, false", "q6_k, 0.04, true", "iq4_nl, 0.03, true", "iq4_xs, 0.03, false"})
    void synth256(String type, double stepTolerance, boolean allowTies) {
        try (Model model = Model.load(SharedData.model("synth256/synth256-" + type + ".gguf"), null, false)) {
            TeacherForcing.check(model, SharedData.json(SharedData.golden("synth256/golden_synth256-" + type + ".json")),
                    0.03, stepTolerance, allowTies, true, model.defaultContextSize(), true);
        }
    }

    /**
     * The files with Q4_K, Q5_K and Q6_K matrices, repacked (the default; {@link dev.jllm.tensor.Repacking}): per
     * super-block exact integer sums and two float FMAs (one without minimums), where ggml adds the sub-block
     * products in float lanes and sums them at the end; the matrix products agree with the direct ones within about
     * 1e-7 relative, and the difference moves Q8_K roundings of the activations. Measured 2026-12-03: q6_k within
     * 1e-6 after the prompt and 0.054 at worst from step 20 (direct: 0.034 from step 37), q5_k_m 1.3e-6 and 0.043
     * from step 3 (direct: llama.cpp's logits at every step); q4_k_m and q4_k_m-mixed meet a flip inside the prompt
     * (one activation of layer 2 rounds to the neighbouring int8, and the difference spreads through the later
     * layers), 0.030 and 0.039 after the prompt (direct: 5e-7), and 0.059 and 0.062 at worst over the steps. So after the prompt they are held to 0.05 (0.03 for q6_k and q5_k_m, as the direct runs) and at the
     * steps to 0.08, about 1.3 to 1.8 times the worst measured, with a near-equal fifth token accepted in place of
     * llama.cpp's.
     */
    @ParameterizedTest(name = "{0} repacked")
    @CsvSource({"q4_k_m, 0.05", "q4_k_m-mixed, 0.05", "q5_k_m, 0.03", "q6_k, 0.03"})
    void synth256Repacked(String type, double promptTolerance) {
        try (Model model = Model.load(SharedData.model("synth256/synth256-" + type + ".gguf"), null, true)) {
            if (jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize() == 512) { // repacking needs AVX-512
                org.junit.jupiter.api.Assertions.assertTrue(model.repackSummary().tensors() > 0, "repacked");
            }
            TeacherForcing.check(model, SharedData.json(SharedData.golden("synth256/golden_synth256-" + type + ".json")),
                    promptTolerance, 0.08, true, true, model.defaultContextSize(), false);
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
