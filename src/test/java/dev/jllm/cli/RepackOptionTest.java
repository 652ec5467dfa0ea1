package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import java.io.IOException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --no-repack} (weights used as they are in the file, products in ggml's order) is accepted where models are
 * loaded, and on these files gives the same greedy tokens as the repacked default: the two differ only in float
 * rounding (RepackedModelTest), far below the gaps between the top logits here.
 */
class RepackOptionTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"stories260K-q8_0-mixed.gguf", "stories260K-q4_0-mixed.gguf"})
    void noRepackGivesTheSameGreedyTokens(String file) throws IOException {
        String model = SharedData.model(file).toString();
        String[] args = {"generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "40", "--format",
            "json"};
        CliTest.Result repacked = CliTest.run(args);
        assertEquals(0, repacked.code(), repacked.err());
        String[] direct = java.util.Arrays.copyOf(args, args.length + 1);
        direct[args.length] = "--no-repack";
        CliTest.Result plain = CliTest.run(direct);
        assertEquals(0, plain.code(), plain.err());
        JsonNode a = JSON.readTree(repacked.out());
        JsonNode b = JSON.readTree(plain.out());
        assertArrayEquals(SharedData.ints(b.get("generated_ids")), SharedData.ints(a.get("generated_ids")));
        assertEquals(40, a.get("generated_ids").size());
    }
}
