package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * stories260K as real PyTorch and lumi wrote it (../shared/models/torch): the llama2.c training checkpoint with
 * llama2.c's tokenizer.bin, Meta's two-shard layout and the lumi file with their own tokenizer.model, each give
 * llama2.c's greedy text for the three golden prompts (float32 KV cache, as run.c keeps it).
 */
class OriginalCheckpointsGoldenTest {

    private static Map<String, Model> models;

    @BeforeAll
    static void load() {
        Path torch = SharedData.model("torch");
        models = Map.of(
                "pt", Model.load(torch.resolve("stories260K.pt"), SharedData.model("tok512.bin")),
                "meta", Model.load(torch.resolve("stories260K-meta"), null),
                "lmw", Model.load(torch.resolve("stories260K.lmw"), null));
    }

    @AfterAll
    static void close() {
        models.values().forEach(Model::close);
    }

    @ParameterizedTest
    @CsvSource({"pt, 1", "pt, 2", "pt, 3", "meta, 1", "meta, 2", "meta, 3", "lmw, 1", "lmw, 2", "lmw, 3"})
    void greedyTextMatchesLlama2c(String file, int p) throws IOException {
        assertEquals(Llama2cGoldenTest.llama2cText(p), Llama2cGoldenTest.runLikeLlama2c(models.get(file), p));
    }
}
