package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
    private static Model q8;
    private static Model q4;

    @BeforeAll
    static void load() {
        f32 = Model.load(SharedData.model("stories260K-f32.gguf"), null);
        q8 = Model.load(SharedData.model("stories260K-q8_0-mixed.gguf"), null);
        q4 = Model.load(SharedData.model("stories260K-q4_0-mixed.gguf"), null);
    }

    @AfterAll
    static void close() {
        f32.close();
        q8.close();
        q4.close();
    }

    private static Model model(String type) {
        return switch (type) {
            case "f32" -> f32;
            case "q8_0-mixed" -> q8;
            case "q4_0-mixed" -> q4;
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

    @ParameterizedTest
    @CsvSource({
        "f32, 1, 1e-3", "f32, 2, 1e-3", "f32, 3, 1e-3",
        "q8_0-mixed, 1, 0.05", "q8_0-mixed, 2, 0.05", "q8_0-mixed, 3, 0.05",
        "q4_0-mixed, 1, 0.05", "q4_0-mixed, 2, 0.05", "q4_0-mixed, 3, 0.05"})
    void teacherForcedLogitsMatchLlamaCpp(String type, int prompt, double tolerance) {
        Path file = SharedData.golden("llamacpp_" + type + "_p" + prompt + ".json");
        TeacherForcing.check(model(type), SharedData.json(file), tolerance, false, 256);
    }
}
