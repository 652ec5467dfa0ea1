package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The original checkpoints of ../shared/models/torch on the command line: {@code -m} recognises them by content
 * (under any name), {@code inspect} describes them, and {@code convert} turns each into every output format with
 * the same greedy tokens as the source, which are llama.cpp's on the F32 GGUF.
 */
class OriginalCheckpointsCliTest {

    @TempDir
    Path dir;

    /** Each source's greedy ids, computed once for its four conversions. */
    private static final java.util.Map<String, int[]> SOURCE_IDS = new java.util.concurrent.ConcurrentHashMap<>();

    static String torch(String name) {
        return SharedData.model("torch").resolve(name).toString();
    }

    static String tok512() {
        return SharedData.model("tok512.bin").toString();
    }

    /** Greedy ids for prompt 1, 200 steps, with the default (FP16) KV cache. */
    static int[] greedyIds(String model, boolean needsTokenizer) throws IOException {
        List<String> args = new ArrayList<>(List.of("generate", "-m", model, "-p", "Once upon a time", "--temp", "0",
                "-n", "200", "--format", "json"));
        if (needsTokenizer) {
            args.addAll(List.of("--tokenizer", tok512()));
        }
        CliTest.Result r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        return SharedData.ints(json.get("generated_ids"));
    }

    @ParameterizedTest
    @CsvSource({"stories260K.pt, gguf", "stories260K.pt, flatbin", "stories260K.pt, hf", "stories260K.pt, llama2c",
        "stories260K-meta, gguf", "stories260K-meta, flatbin", "stories260K-meta, hf", "stories260K-meta, llama2c",
        "stories260K.lmw, gguf", "stories260K.lmw, flatbin", "stories260K.lmw, hf", "stories260K.lmw, llama2c"})
    void convertGivesTheSourcesTokens(String name, String target) throws IOException {
        boolean pt = name.endsWith(".pt");
        int[] source = SOURCE_IDS.computeIfAbsent(name, n -> {
            try {
                return greedyIds(torch(n), pt);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        int[] llamaCpp = SharedData.ints(SharedData.json(SharedData.golden("llamacpp_f32_p1.json"))
                .get("generated_ids"));
        assertArrayEquals(llamaCpp, source, "the source gives llama.cpp's 200 tokens");
        Path out = dir.resolve(target.equals("hf") ? "out-hf" : "out." + target);
        List<String> args = new ArrayList<>(List.of("convert", torch(name), "-o", out.toString(), "--to", target));
        if (pt) {
            args.addAll(List.of("--tokenizer", tok512()));
        }
        CliTest.Result r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        boolean carriesTokenizer = target.equals("gguf") || target.equals("hf");
        assertArrayEquals(source, greedyIds(out.toString(), !carriesTokenizer), name + " -> " + target);
    }

    @Test
    void modelsAreToldApartByContentNotByName() throws IOException {
        Path pt = dir.resolve("weights.bin");
        Files.copy(Path.of(torch("stories260K.pt")), pt);
        Path lmw = dir.resolve("weights.gguf");
        Files.copy(Path.of(torch("stories260K.lmw")), lmw);
        Path meta = Files.createDirectory(dir.resolve("checkpoint"));
        for (String f : new String[] {"params.json", "consolidated.00.pth", "consolidated.01.pth", "tokenizer.model"}) {
            Files.copy(Path.of(torch("stories260K-meta/" + f)), meta.resolve(f));
        }
        String[][] cases = {{pt.toString(), "PyTorch training checkpoint"}, {lmw.toString(), "lumi .lmw"},
            {meta.toString(), "Meta checkpoint (params.json, 2 model-parallel shards"}};
        for (String[] c : cases) {
            CliTest.Result r = CliTest.run("inspect", c[0]);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("format:    " + c[1]), r.out());
            assertTrue(r.out().contains("dim 64, layers 5, heads 8, kv heads 4, head dim 8, hidden 172, vocab 512"),
                    r.out());
        }
        int[] expected = greedyIds(torch("stories260K-meta"), false);
        assertArrayEquals(expected, greedyIds(pt.toString(), true));
        assertArrayEquals(expected, greedyIds(lmw.toString(), false));
        assertArrayEquals(expected, greedyIds(meta.toString(), false));
    }

    @Test
    void aTrainingCheckpointTakesTheTokenizerBesideIt() throws IOException {
        int[] expected = greedyIds(torch("stories260K.pt"), true);
        Path bin = Files.createDirectory(dir.resolve("with-bin"));
        Files.copy(Path.of(torch("stories260K.pt")), bin.resolve("ckpt.pt"));
        Files.copy(Path.of(tok512()), bin.resolve("tokenizer.bin"));
        assertArrayEquals(expected, greedyIds(bin.resolve("ckpt.pt").toString(), false));
        Path model = Files.createDirectory(dir.resolve("with-model"));
        Files.copy(Path.of(torch("stories260K.pt")), model.resolve("ckpt.pt"));
        Files.copy(Path.of(torch("stories260K-meta/tokenizer.model")), model.resolve("tokenizer.model"));
        assertArrayEquals(expected, greedyIds(model.resolve("ckpt.pt").toString(), false));
        CliTest.Result r = CliTest.run("inspect", model.resolve("ckpt.pt").toString());
        assertTrue(r.out().contains("tokenizer: llama, 512 tokens"), r.out());
    }

    @Test
    void inspectDescribesEachFormat() {
        CliTest.Result pt = CliTest.run("inspect", torch("stories260K.pt"), "--metadata");
        assertEquals(0, pt.code(), pt.err());
        assertTrue(pt.out().contains("format:    PyTorch training checkpoint (torch.save zip, model + model_args,"
                + " 48 tensors in 11 storages, output tied to the embedding)"), pt.out());
        assertTrue(pt.out().contains("pytorch.model_args.multiple_of"), pt.out());
        CliTest.Result meta = CliTest.run("inspect", torch("stories260K-meta"), "--metadata");
        assertTrue(meta.out().contains("format:    Meta checkpoint (params.json, 2 model-parallel shards joined in"
                + " memory, tokenizer.model)"), meta.out());
        assertTrue(meta.out().contains("tokenizer: llama, 512 tokens, bos 1, eos 2"), meta.out());
        CliTest.Result lmw = CliTest.run("inspect", torch("stories260K.lmw"));
        assertTrue(lmw.out().contains("format:    lumi .lmw (format 1, model version 2, embedded tokenizer.model;"
                + " 36 transposed matrices copied to row-major order)"), lmw.out());
        assertTrue(lmw.out().contains("output.weight"), lmw.out());
    }

    @Test
    void aHostileCheckpointIsOneLineAndExitCode2() throws IOException {
        byte[] pickle = new dev.jllm.format.pytorch.PickleWriter().proto(2).global("os", "system").mark()
                .string("echo hi").tuple().reduce().stop().bytes();
        Path bad = dir.resolve("evil.pt");
        Files.write(bad, dev.jllm.format.pytorch.TinyCheckpoint.zip(pickle,
                dev.jllm.format.pytorch.TorchZipWriter.Lie.NONE).toBytes());
        for (String command : new String[] {"inspect", "generate"}) {
            CliTest.Result r = command.equals("inspect") ? CliTest.run("inspect", bad.toString())
                    : CliTest.run("generate", "-m", bad.toString(), "-p", "hi");
            assertEquals(2, r.code(), r.err());
            assertEquals(1, r.err().strip().split("\n").length, r.err());
            assertTrue(r.err().contains("refuses global 'os.system'"), r.err());
            assertFalse(r.err().contains("\tat "), r.err());
        }
    }
}
