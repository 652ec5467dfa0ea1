package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Against llama2.c's run.c: greedy text on stories260K.bin with tok512.bin, and agreement with the F32 GGUF. */
class Llama2cGoldenTest {

    /** run.c's {@code -n 256}: positions run, the prompt (with BOS) included; it prints a token after each. */
    private static final int STEPS = 256;

    private static Model bin;
    private static Model gguf;

    @BeforeAll
    static void load() {
        bin = Model.load(SharedData.model("stories260K.bin"), SharedData.model("tok512.bin"));
        gguf = Model.load(SharedData.model("stories260K-f32.gguf"), null);
    }

    @AfterAll
    static void close() {
        bin.close();
        gguf.close();
    }

    /** llama2.c keeps its KV cache in float32; so does this comparison. */
    private static Session llama2cSession(Model model) {
        return model.newSession(SessionOptions.defaults(512).withCacheType(dev.jllm.model.KvCache.Type.F32));
    }

    private static String prompt(int p) {
        return SharedData.json(SharedData.golden("llamacpp_f32_p" + p + ".json")).get("prompt").asText();
    }

    @ParameterizedTest
    @CsvSource({"1", "2", "3"})
    void greedyTextMatchesLlama2c(int p) throws IOException {
        assertEquals(llama2cText(p), runLikeLlama2c(bin, p));
    }

    /** llama2.c's printed text for prompt {@code p}, as its golden file holds it. */
    static String llama2cText(int p) throws IOException {
        return Files.readString(SharedData.golden("llama2c_p" + p + ".txt"), StandardCharsets.UTF_8);
    }

    /** What run.c prints for prompt {@code p} ({@code -t 0 -n 256}) when {@code model} runs it, float32 KV cache. */
    static String runLikeLlama2c(Model model, int p) {
        String prompt = prompt(p);
        int promptLength = model.tokenizer().encode(prompt, true, false).length;
        StringBuilder printed = new StringBuilder();
        Generation g = Generator.generate(model, llama2cSession(model), prompt,
                GenerationOptions.greedy(STEPS - promptLength + 1), printed::append);
        // run.c stops when the model emits BOS; our generation would go on, so cut there as run.c does
        int[] ids = g.generatedIds();
        int cut = ids.length;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == model.tokenizer().bosId()) {
                cut = i;
                break;
            }
        }
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(g.promptIds()),
                java.util.Arrays.stream(ids, 0, cut)).toArray();
        String text = cut == ids.length ? printed.toString() : model.tokenizer().decode(all);
        return text + "\n";
    }

    @ParameterizedTest
    @CsvSource({"1", "2", "3"})
    void llama2cCheckpointAndF32GgufGiveTheSameGreedyTokens(int p) {
        JsonNode golden = SharedData.json(SharedData.golden("llamacpp_f32_p" + p + ".json"));
        int n = golden.get("generated_ids").size();
        Generation a = Generator.generate(bin, llama2cSession(bin), prompt(p), GenerationOptions.greedy(n), null);
        Generation b = Generator.generate(gguf, llama2cSession(gguf), prompt(p), GenerationOptions.greedy(n), null);
        assertArrayEquals(a.promptIds(), b.promptIds());
        assertArrayEquals(a.generatedIds(), b.generatedIds());
    }
}
