package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import dev.jllm.engine.Generation;
import dev.jllm.engine.GenerationOptions;
import dev.jllm.engine.Generator;
import dev.jllm.engine.Model;
import dev.jllm.engine.SessionOptions;
import dev.jllm.model.KvCache;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code jllm generate}'s options, each against a reference (llama.cpp's ids, llama2.c's text) or an invariant that
 * fails when the option is wrong: stopping at the end of text, {@code --prefill token}, {@code --no-kv-cache},
 * {@code --cache-type}, {@code --no-bos}, {@code --parse-special}.
 */
class GenerateOptionsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    private static String f32Gguf() {
        return SharedData.model("stories260K-f32.gguf").toString();
    }

    private static JsonNode golden(int p) {
        return SharedData.json(SharedData.golden("llamacpp_f32_p" + p + ".json"));
    }

    private static JsonNode json(String... args) throws IOException {
        CliTest.Result r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        return JSON.readTree(r.out());
    }

    private static String[] with(String[] base, String... more) {
        String[] all = Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    // ---- the end of text ----

    /**
     * stories260K ends a story with BOS (id 1), and llama2.c's run.c stops there: its text for "The little dog" ends
     * after 217 tokens. A copy of stories260K.gguf whose {@code tokenizer.ggml.eos_token_id} is 1 makes that token the
     * end of text for jllm: generation stops there, for the reason END_OF_TEXT, with llama2.c's very text.
     * ({@code --ignore-eos} on the same file: CommandLineHabitsTest.)
     */
    static Path eosIsBos() throws IOException {
        Path copy = dir.resolve("eos-is-bos.gguf");
        return Files.exists(copy) ? copy : eosIsBos(copy);
    }

    /** stories260K.gguf with {@code tokenizer.ggml.eos_token_id} 1, written to {@code copy}. */
    static Path eosIsBos(Path copy) throws IOException {
        byte[] file = Files.readAllBytes(SharedData.model("stories260K.gguf"));
        byte[] key = "tokenizer.ggml.eos_token_id".getBytes(StandardCharsets.US_ASCII);
        int at = indexOf(file, key);
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(key.length, b.getLong(at - 8), "the key's length prefix");
        assertEquals(4, b.getInt(at + key.length), "a uint32 value");
        assertEquals(2, b.getInt(at + key.length + 4), "EOS was </s>");
        b.putInt(at + key.length + 4, 1);
        return Files.write(copy, file);
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }

    @Test
    void generationStopsAtTheEndOfTextAsLlama2cDoes() throws IOException {
        String model = eosIsBos().toString();
        String llama2c = Files.readString(SharedData.golden("llama2c_p3.txt"), StandardCharsets.UTF_8);
        String[] args = {"generate", "-m", model, "-p", "The little dog", "--temp", "0", "--cache-type", "f32"};
        CliTest.Result text = CliTest.run(with(args, "-n", "-1"));
        assertEquals(0, text.code(), text.err());
        assertEquals(llama2c, text.out());
        assertTrue(text.err().contains("jllm: stopped: end of text"), text.err());

        JsonNode json = json(with(args, "--format", "json", "-n", "-1"));
        assertEquals("end_of_text", json.get("stop_reason").asText());
        int[] generated = SharedData.ints(json.get("generated_ids"));
        assertEquals(217, generated.length, "llama2.c's story of 5 + 217 positions");
        assertFalse(IntStream.of(generated).anyMatch(id -> id == 1), "the end-of-text token is not part of the text");

        // The engine reports the same reason.
        try (Model m = Model.load(eosIsBos(), null)) {
            Generation g = Generator.generate(m, m.newSession(SessionOptions.defaults(512).withCacheType(KvCache.Type.F32)),
                    "The little dog", GenerationOptions.greedy(-1), null);
            assertEquals(Generation.StopReason.END_OF_TEXT, g.stopReason());
            assertArrayEquals(generated, g.generatedIds());
        }
    }

    // ---- paths through the model ----

    /** Token-at-a-time prefill and recomputation without a cache give llama.cpp's greedy tokens, as the batch does. */
    @ParameterizedTest
    @CsvSource({"--prefill, batch", "--prefill, token", "--no-kv-cache, ", "--cache-type, f32"})
    void everyPathGivesLlamaCppsTokens(String option, String value) throws IOException {
        JsonNode golden = golden(2);
        String[] args = {"generate", "-m", f32Gguf(), "-p", golden.get("prompt").asText(), "--temp", "0", "-n", "40",
            "--format", "json", option};
        JsonNode json = json(value == null ? args : with(args, value));
        assertArrayEquals(SharedData.ints(golden.get("prompt_ids")), SharedData.ints(json.get("prompt_ids")));
        assertArrayEquals(Arrays.copyOf(SharedData.ints(golden.get("generated_ids")), 40),
                SharedData.ints(json.get("generated_ids")));
    }

    /**
     * {@code --cache-type f32} is llama2.c's arithmetic: its printed text exactly (run.c's {@code -n 256} counts
     * positions, the 5 of the prompt included). The default FP16 cache gives llama.cpp's 200-token text.
     */
    @Test
    void cacheTypesGiveTheirReferencesText() throws IOException {
        String llama2c = Files.readString(SharedData.golden("llama2c_p1.txt"), StandardCharsets.UTF_8);
        CliTest.Result f32 = CliTest.run("generate", "-m", SharedData.model("stories260K.bin").toString(), "--tokenizer",
                SharedData.model("tok512.bin").toString(), "-p", "Once upon a time", "--temp", "0", "-n", "252",
                "--cache-type", "f32");
        assertEquals(0, f32.code(), f32.err());
        assertEquals(llama2c, f32.out());

        JsonNode golden = golden(1);
        JsonNode f16 = json("generate", "-m", f32Gguf(), "-p", golden.get("prompt").asText(), "--temp", "0", "-n", "200",
                "--ctx-size", "256", "--cache-type", "f16", "--format", "json"); // the file's context is 128
        assertEquals(golden.get("text").asText(), f16.get("text").asText());
        CliTest.assertOneLineError(CliTest.run("generate", "-m", f32Gguf(), "-p", "x", "--cache-type", "q8_0"),
                "--cache-type");
    }

    // ---- the prompt's tokens ----

    /** Without BOS, the prompt is llama.cpp's ids without its first; the continuation is that of those ids. */
    @Test
    void noBosLeavesOutTheFirstToken() throws IOException {
        JsonNode golden = golden(1);
        int[] expected = SharedData.ints(golden.get("prompt_ids"));
        JsonNode json = json("generate", "-m", f32Gguf(), "-p", golden.get("prompt").asText(), "--no-bos", "--temp", "0",
                "-n", "20", "--format", "json");
        assertArrayEquals(Arrays.copyOfRange(expected, 1, expected.length), SharedData.ints(json.get("prompt_ids")));
        try (Model m = Model.load(SharedData.model("stories260K-f32.gguf"), null)) {
            Generation g = Generator.generate(m, m.newSession(SessionOptions.defaults(128)), golden.get("prompt").asText(),
                    new GenerationOptions(20, dev.jllm.sampling.SamplerOptions.greedy(), false, false), null);
            assertArrayEquals(g.generatedIds(), SharedData.ints(json.get("generated_ids")));
        }
    }

    /**
     * With {@code --parse-special}, {@code <s>} written in the prompt is BOS and the text after it takes the space
     * prefix (llama.cpp's rule), so "<s>Once upon a time" without an added BOS is llama.cpp's prompt, and the story is
     * llama.cpp's; without it, {@code <s>} is three pieces of text.
     */
    @Test
    void parseSpecialTurnsTheTextOfBosIntoBos() throws IOException {
        JsonNode golden = golden(1);
        String[] args = {"generate", "-m", f32Gguf(), "-p", "<s>" + golden.get("prompt").asText(), "--no-bos", "--temp",
            "0", "-n", "20", "--format", "json"};
        JsonNode parsed = json(with(args, "--parse-special"));
        assertArrayEquals(SharedData.ints(golden.get("prompt_ids")), SharedData.ints(parsed.get("prompt_ids")));
        assertArrayEquals(Arrays.copyOf(SharedData.ints(golden.get("generated_ids")), 20),
                SharedData.ints(parsed.get("generated_ids")));
        int[] plain = SharedData.ints(json(args).get("prompt_ids"));
        assertFalse(IntStream.of(plain).anyMatch(id -> id == 1), "'<s>' as text: " + Arrays.toString(plain));
        assertTrue(plain.length > golden.get("prompt_ids").size(), Arrays.toString(plain));
    }
}
