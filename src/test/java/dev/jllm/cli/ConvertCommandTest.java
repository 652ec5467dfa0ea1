package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jllm convert} end to end: converted models tell the same story; bad requests fail in one line, leaving nothing. */
class ConvertCommandTest {

    @TempDir
    Path dir;

    static List<Path> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    static String story(String... modelArgs) {
        String[] args = Stream.concat(Stream.of("generate"), Stream.concat(Stream.of(modelArgs),
                Stream.of("-p", "Once upon a time", "--temp", "0", "-n", "30"))).toArray(String[]::new);
        CliTest.Result r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        return r.out();
    }

    /** Issue 14, item 8: convert --type q4_0 keeps ffn_down (rows of 172) in F32 and says so. */
    @Test
    void matricesThatFallBackToF32AreNamed() throws IOException {
        Path out = dir.resolve("q4.gguf");
        CliTest.Result r = CliTest.run("convert", SharedData.model("stories260K-f32.gguf").toString(), "-o",
                out.toString(), "--to", "gguf", "--type", "q4_0");
        assertEquals(0, r.code(), r.err());
        List<String> warnings = r.err().lines().filter(l -> l.startsWith("jllm: warning:")).toList();
        assertEquals(1, warnings.size(), r.err());
        String w = warnings.getFirst();
        assertTrue(w.contains("--type q4_0 does not fit 5 of 37 matrices, written as F32"), w);
        for (int layer = 0; layer < 5; layer++) {
            assertTrue(w.contains("blk." + layer + ".ffn_down.weight (rows of 172)"), w);
        }
        assertTrue(r.out().contains("gguf q4_0 (5 matrices in F32, see the warning)"), r.out());
        CliTest.Result f16 = CliTest.run("convert", SharedData.model("stories260K-f32.gguf").toString(), "-o",
                dir.resolve("f16.gguf").toString(), "--to", "gguf", "--type", "f16");
        assertEquals(0, f16.code(), f16.err());
        assertFalse(f16.err().contains("warning"), f16.err());
    }

    /** Issue 14, item 12: a tokenizer whose vocabulary is not the model's size is refused, whatever its format. */
    @Test
    void aTokenizerOfAnotherVocabularySizeIsRefused() throws IOException {
        String bin = SharedData.model("stories260K.bin").toString();
        for (String tok : new String[] {"vocab/llama2-tokenizer.bin", "vocab/llama2-tokenizer.model",
            "vocab/llama3-tokenizer.json", "vocab/ggml-vocab-llama-spm.gguf"}) {
            String path = SharedData.file(tok).toString();
            CliTest.assertOneLineError(CliTest.run("generate", "-m", bin, "--tokenizer", path, "-p", "hi", "-n", "2"),
                    path, "tokens but the model's vocabulary has 512");
            CliTest.assertOneLineError(CliTest.run("convert", bin, "--tokenizer", path, "-o",
                    dir.resolve("x.gguf").toString(), "--to", "gguf"), path, "tokens but the model's vocabulary has 512");
            assertEquals(List.of(), listing(dir));
        }
        // beside a llama2.c checkpoint, tokenizer.bin is read whole too
        Path model = dir.resolve("m/model.bin");
        Files.createDirectories(model.getParent());
        Files.copy(SharedData.model("stories260K.bin"), model);
        Files.copy(SharedData.file("vocab/llama2-tokenizer.bin"), model.resolveSibling("tokenizer.bin"));
        CliTest.assertOneLineError(CliTest.run("generate", "-m", model.toString(), "-p", "hi", "-n", "2"),
                "has 32000 tokens but the model's vocabulary has 512");
    }

    @Test
    void llama2cToGgufAndHfTellTheSameStory() throws IOException {
        String bin = SharedData.model("stories260K.bin").toString();
        String tok = SharedData.model("tok512.bin").toString();
        String expected = story("-m", bin, "--tokenizer", tok);

        Path gguf = dir.resolve("s.gguf");
        CliTest.Result r = CliTest.run("convert", bin, "--tokenizer", tok, "-o", gguf.toString(), "--to", "gguf");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + gguf), r.out());
        assertEquals(expected, story("-m", gguf.toString()));

        Path hf = dir.resolve("hf");
        r = CliTest.run("convert", gguf.toString(), "-o", hf.toString(), "--to", "hf");
        assertEquals(0, r.code(), r.err());
        assertEquals(expected, story("-m", hf.toString()));
        assertEquals(List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"),
                listing(hf).stream().map(p -> p.getFileName().toString()).toList());

        // from Hugging Face back to GGUF (Q/K through the loader's row order), quantized
        Path again = dir.resolve("again.gguf");
        r = CliTest.run("convert", hf.toString(), "-o", again.toString(), "--to", "gguf", "--type", "q8_0");
        assertEquals(0, r.code(), r.err());
        Path againF32 = dir.resolve("again-f32.gguf");
        r = CliTest.run("convert", hf.toString(), "-o", againF32.toString(), "--to", "gguf");
        assertEquals(0, r.code(), r.err());
        assertEquals(expected, story("-m", againF32.toString()));
        // Quantized as llama-quantize does, it tells llama.cpp's Q8_0 story (its 30 first greedy tokens).
        com.fasterxml.jackson.databind.JsonNode q8 = SharedData.json(SharedData.golden("llamacpp_q8_0-mixed_p1.json"));
        StringBuilder q8Story = new StringBuilder(q8.get("prompt").asText());
        for (int step = 0; step < 30; step++) {
            q8Story.append(q8.get("steps").get(step).get("piece").asText());
        }
        assertEquals(q8Story.append('\n').toString(), story("-m", again.toString()));

        Path back = dir.resolve("back.bin");
        r = CliTest.run("convert", hf.toString(), "-o", back.toString(), "--to", "llama2c");
        assertEquals(0, r.code(), r.err());
        assertEquals(expected, story("-m", back.toString(), "--tokenizer", tok));
        assertEquals(List.of(againF32, again, back, hf, gguf), listing(dir));
    }

    /** --type q4_k_m writes llama-quantize's mixture (its bytes are checked in ConvertRoundTripTest) and it runs. */
    @Test
    void q4_k_mFromF16() throws IOException {
        Path out = dir.resolve("m.gguf");
        CliTest.Result r = CliTest.run("convert", SharedData.model("synth256/synth256-f16.gguf").toString(), "-o",
                out.toString(), "--to", "gguf", "--type", "q4_k_m");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + out + ": gguf q4_k_m from "), r.out());
        CliTest.Result inspect = CliTest.run("inspect", out.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("output.weight             Q6_K"), inspect.out());
        assertTrue(inspect.out().contains("blk.0.attn_q.weight       Q4_K"), inspect.out());
        assertEquals(List.of(out), listing(dir));
    }

    private static void assertOneLineError(CliTest.Result r, String expected) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("jllm: ") && r.err().contains(expected), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void badRequestsLeaveNothingBehind() throws IOException {
        String llama3 = SharedData.model("llama3-tiny-q8_0.gguf").toString();
        assertOneLineError(CliTest.run("convert", llama3, "-o", dir.resolve("x.bin").toString(), "--to", "llama2c"),
                "RoPE frequency scaling");
        assertOneLineError(CliTest.run("convert", llama3, "-o", dir.resolve("x.bin").toString(), "--to", "flatbin"),
                "RoPE frequency scaling");
        assertOneLineError(CliTest.run("convert", llama3, "-o", dir.resolve("x").toString(), "--to", "hf",
                "--type", "q8_0"), "safetensors holds f32, f16 or bf16");
        assertOneLineError(CliTest.run("convert", llama3, "-o", dir.resolve("x").toString(), "--to", "onnx"),
                "unknown --to 'onnx'");
        assertOneLineError(CliTest.run("convert", llama3, "-o", dir.resolve("x").toString(), "--to", "hf",
                "--type", "q4_k_m"), "a mixture of block types is for GGUF only");
        assertOneLineError(CliTest.run("convert", llama3, "-o", dir.resolve("x.gguf").toString(), "--to", "gguf",
                "--type", "q3_k"), "unknown --type 'q3_k' (expected f32, f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m)");
        assertEquals(List.of(), listing(dir));

        // a Hugging Face directory whose shard lies about its offsets
        Path hf = dir.resolve("hf");
        assertEquals(0, CliTest.run("convert", SharedData.model("stories260K-f32.gguf").toString(), "-o",
                hf.toString(), "--to", "hf").code());
        Path shard = hf.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length - 1));
        Path out = dir.resolve("out.gguf");
        assertOneLineError(CliTest.run("convert", hf.toString(), "-o", out.toString(), "--to", "gguf"),
                "bad safetensors file");
        assertEquals(List.of(hf), listing(dir));
        // an existing, non-empty output directory is not replaced
        assertOneLineError(CliTest.run("convert", SharedData.model("stories260K-f32.gguf").toString(), "-o",
                hf.toString(), "--to", "hf"), "it exists");
        assertFalse(Files.exists(out));
    }
}
