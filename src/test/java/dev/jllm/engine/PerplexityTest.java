package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** llama-perplexity's figures on ppl_text.txt with a context of 128, within 0.5%. */
class PerplexityTest {

    @ParameterizedTest
    @CsvSource({"stories260K-f32.gguf, 3.4409", "stories260K-q8_0-mixed.gguf, 3.4364", "stories260K-q4_0-mixed.gguf, 3.8330"})
    void matchesLlamaCpp(String file, double expected) throws IOException {
        String text = Files.readString(SharedData.golden("ppl_text.txt"), StandardCharsets.UTF_8);
        text = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        try (Model model = Model.load(SharedData.model(file), null)) {
            int[] tokens = model.tokenizer().encode(text, true, false);
            Perplexity.Result r = Perplexity.compute(model, tokens, 128, dev.jllm.model.KvCache.Type.F16, null);
            assertEquals(7, r.chunks(), "chunks (llama.cpp computed over 7)");
            assertEquals(expected, r.perplexity(), expected * 0.005, "perplexity");
        }
    }
}
