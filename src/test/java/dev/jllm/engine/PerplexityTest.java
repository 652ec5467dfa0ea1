package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * llama-perplexity's figures on ppl_text.txt with a context of 128, within 0.5%: the stories260K files, and the
 * synth256 random model in every block type ({@code golden/synth256/ppl_llamacpp_ppl_text.txt}).
 */
class PerplexityTest {

    @ParameterizedTest
    @CsvSource({"stories260K-f32.gguf, 3.4409", "stories260K-q8_0-mixed.gguf, 3.4364", "stories260K-q4_0-mixed.gguf, 3.8330",
        "synth256/synth256-f16.gguf, 705.0995", "synth256/synth256-q4_1.gguf, 696.4926",
        "synth256/synth256-q5_0.gguf, 712.0802", "synth256/synth256-q5_1.gguf, 704.3305",
        "synth256/synth256-q2_k.gguf, 701.7626", "synth256/synth256-q3_k_m.gguf, 712.8001",
        "synth256/synth256-q4_k_m.gguf, 703.9288", "synth256/synth256-q4_k_m-mixed.gguf, 700.1337",
        "synth256/synth256-q5_k_m.gguf, 710.0838", "synth256/synth256-q6_k.gguf, 705.4860",
        "synth256/synth256-iq4_nl.gguf, 712.6271", "synth256/synth256-iq4_xs.gguf, 720.5740"})
    void matchesLlamaCpp(String file, double expected) throws IOException {
        String text = Files.readString(SharedData.golden("ppl_text.txt"), StandardCharsets.UTF_8);
        text = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        try (Model model = Model.load(SharedData.model(file), null)) {
            int[] tokens = model.tokenizer().encode(text, true, false);
            Perplexity.Result r = Perplexity.compute(model, tokens, 128, dev.jllm.model.KvCache.Type.F16, null);
            assertEquals(7, r.chunks(), "chunks (llama.cpp computed over 7)");
            System.out.printf("perplexity %s: %.4f (llama.cpp %.4f, %+.3f%%)%n", file, r.perplexity(), expected,
                    100 * (r.perplexity() - expected) / expected);
            assertEquals(expected, r.perplexity(), expected * 0.005, "perplexity");
        }
    }
}
