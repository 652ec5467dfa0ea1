package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * llama-perplexity's figures on ppl_text.txt with a context of 128 ({@code golden/ppl_stories260K_*.log} and
 * {@code golden/synth256/ppl_llamacpp_ppl_text.txt}): the stories260K files, and the synth256 random model in every
 * block type.
 *
 * <p>Each file is held to about three times the relative error measured on 2026-12-03 (the third column; the
 * fourth is the bound). Why jllm's figure differs at all: llama-perplexity runs each chunk as one batch of 128, which
 * ggml multiplies with its batched kernels (another summation order than its one-token kernels), while jllm sums
 * every batch in the one-token order (batch invariance). The sums differ in the last bits and now and then a value
 * rounds to another 8-bit or FP16 number (see LlamaCppGoldenTest): llama.cpp's own figure moves by as much when
 * only its batch kernels change. Measured with its build in ../shared/peers on this machine: stories260K Q8_0 gives
 * 3.4369 with {@code -ub 128} and 3.4355 with {@code -ub 1} (one token per batch), 0.04% apart; F32 gives 3.4410 both
 * ways. Files that meet no such flip (F32, Q4_0, Q5_1, Q4_K, IQ4_NL) all read 0.0042% above the logs, a constant
 * offset within the four decimals the stories260K logs print (half a unit is 0.0015% of 3.44).
 */
class PerplexityTest {

    @ParameterizedTest
    @CsvSource({
        "stories260K-f32.gguf,                3.4409,   0.0043, 0.013",
        "stories260K-q8_0-mixed.gguf,         3.4364,  -0.045,  0.14",
        "stories260K-q4_0-mixed.gguf,         3.8330,   0.0042, 0.013",
        "stories260K-q8_0-mixed.gguf repacked, 3.4364, -0.073,  0.22",
        "stories260K-q4_0-mixed.gguf repacked, 3.8330,  0.0248, 0.075",
        "synth256/synth256-f16.gguf,          705.0995, -0.0011, 0.004",
        "synth256/synth256-q4_1.gguf,         696.4926, -0.087,  0.26",
        "synth256/synth256-q5_0.gguf,         712.0802, -0.070,  0.21",
        "synth256/synth256-q5_1.gguf,         704.3305,  0.0043, 0.013",
        "synth256/synth256-q2_k.gguf,         701.7626, -0.105,  0.32",
        "synth256/synth256-q3_k_m.gguf,       712.8001,  0.058,  0.18",
        "synth256/synth256-q4_k_m.gguf,       703.9288,  0.0041, 0.013",
        "synth256/synth256-q4_k_m.gguf repacked, 703.9288, 0.0172, 0.052",
        "synth256/synth256-q4_k_m-mixed.gguf, 700.1337, -0.018,  0.055",
        "synth256/synth256-q4_k_m-mixed.gguf repacked, 700.1337, 0.0144, 0.044",
        "synth256/synth256-q5_k_m.gguf,       710.0838, -0.105,  0.32",
        "synth256/synth256-q5_k_m.gguf repacked, 710.0838, -0.0796, 0.24",
        "synth256/synth256-q6_k.gguf,         705.4860,  0.012,  0.035",
        "synth256/synth256-q6_k.gguf repacked, 705.4860, -0.0388, 0.12",
        "synth256/synth256-iq4_nl.gguf,       712.6271,  0.0043, 0.013",
        "synth256/synth256-iq4_xs.gguf,       720.5740, -0.109,  0.33"})
    void matchesLlamaCpp(String file, double expected, double measuredPercent, double boundPercent) throws IOException {
        assertTrue(boundPercent <= 3.5 * Math.max(Math.abs(measuredPercent), 0.0013),
                "the bound is about three times the measured error (rounded up)");
        String text = Files.readString(SharedData.golden("ppl_text.txt"), StandardCharsets.UTF_8);
        text = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        // Q8_0 and Q4_0 in ggml's summation orders (--no-repack), and repacked (the default since issue 13: each
        // block's exact sum, the blocks added in order), which meets other roundings; likewise Q4_K, Q5_K and Q6_K
        // (exact integer sums per super-block, one or two float steps): their figures differ from the direct runs' by
        // 0.013% (q4_k_m), 0.033% (q4_k_m-mixed), 0.025% (q5_k_m) and 0.050% (q6_k), about llama.cpp's own
        // -ub 128 / -ub 1 difference above
        boolean repack = file.endsWith(" repacked");
        try (Model model = Model.load(SharedData.model(file.replace(" repacked", "")), null, repack)) {
            int[] tokens = model.tokenizer().encode(text, true, false);
            Perplexity.Result r = Perplexity.compute(model, tokens, 128, dev.jllm.model.KvCache.Type.F16, null);
            assertEquals(7, r.chunks(), "chunks (llama.cpp computed over 7)");
            double percent = 100 * (r.perplexity() - expected) / expected;
            System.out.printf("perplexity %s: %.6f (llama.cpp %.4f, %+.5f%%, measured %+.4f%%, bound %.3f%%)%n", file,
                    r.perplexity(), expected, percent, measuredPercent, boundPercent);
            assertEquals(expected, r.perplexity(), expected * boundPercent / 100,
                    "perplexity (" + String.format(java.util.Locale.ROOT, "%+.4f%%", percent) + " from llama.cpp; "
                            + "measured " + measuredPercent + "%, bound " + boundPercent + "%)");
        }
    }
}
