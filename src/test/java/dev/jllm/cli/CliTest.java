package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line end to end (in-process): output, exit codes, and one-line errors for bad input. */
class CliTest {

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static String bin() {
        return SharedData.model("stories260K.bin").toString();
    }

    private static String tok() {
        return SharedData.model("tok512.bin").toString();
    }

    @Test
    void generateTellsTheTinyStoriesStory() throws IOException {
        Result r = run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--temp", "0", "-n", "40");
        assertEquals(0, r.code(), r.err());
        String llama2c = Files.readString(SharedData.golden("llama2c_p1.txt"), StandardCharsets.UTF_8);
        assertTrue(r.out().startsWith("Once upon a time, there was a little girl named Lily."), r.out());
        assertTrue(llama2c.startsWith(r.out().strip()), "prefix of llama2.c's text: " + r.out());
        assertTrue(r.err().contains("tokens/s"), r.err());
    }

    /** More threads than cores: a warning, and the very text of one thread (the products do not depend on the split). */
    @Test
    void moreThreadsThanCoresWarnsAndGivesTheSameText() {
        int threads = dev.jllm.tensor.Parallel.availableCores() * 8;
        try {
            Result one = run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--temp", "0",
                    "-n", "30", "-t", "1");
            Result many = run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--temp", "0",
                    "-n", "30", "-t", Integer.toString(threads));
            assertEquals(0, many.code(), many.err());
            assertEquals(one.out(), many.out());
            assertTrue(many.err().contains("warning: --threads " + threads + " is more than the "), many.err());
            assertFalse(one.err().contains("warning"), one.err());
        } finally {
            dev.jllm.tensor.Parallel.configure(dev.jllm.tensor.Parallel.availableCores());
        }
    }

    @Test
    void generateJsonGivesIdsTextAndTimings() throws IOException {
        Result r = run("generate", "-m", SharedData.model("stories260K-f32.gguf").toString(), "-p", "Once upon a time",
                "--temp", "0", "-n", "20", "--format", "json");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        JsonNode golden = SharedData.json(SharedData.golden("llamacpp_f32_p1.json"));
        assertArrayEquals(SharedData.ints(golden.get("prompt_ids")), SharedData.ints(json.get("prompt_ids")));
        assertArrayEquals(Arrays.copyOf(SharedData.ints(golden.get("generated_ids")), 20),
                SharedData.ints(json.get("generated_ids")));
        assertEquals("max_tokens", json.get("stop_reason").asText());
        assertTrue(json.get("timings").get("generation_tokens_per_second").asDouble() > 0);
    }

    @Test
    void seededSamplingIsReproducible() {
        String[] args = {"generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--temp", "1.0",
            "--seed", "42", "-n", "30"};
        Result a = run(args);
        Result b = run(args);
        assertEquals(0, a.code(), a.err());
        assertEquals(a.out(), b.out());
        Result c = run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--temp", "1.0",
                "--seed", "43", "-n", "30");
        assertFalse(a.out().equals(c.out()), "another seed gives another text");
    }

    @Test
    void contextFullStopsWithAMessage() {
        Result r = run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--temp", "0",
                "--ctx-size", "16");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("context of 16 tokens is full"), r.err());
    }

    @Test
    void perplexityPrintsLlamaCppsFigures() {
        Result r = run("perplexity", "-m", SharedData.model("stories260K-f32.gguf").toString(), "-f",
                SharedData.golden("ppl_text.txt").toString(), "--ctx-size", "128");
        assertEquals(0, r.code(), r.err());
        assertPrintsLlamaPerplexityFigures(r.out(), "ppl_stories260K_f32_noamx_build.log");
    }

    /**
     * PerplexityTest's bound for stories260K-f32.gguf: three times the relative error measured there (0.0043%). The
     * printed figures are compared as printed (four decimals, five for the +/-), so each side's rounding to those
     * digits (half a unit of the last printed digit) is allowed on top. Measured 2026-12-03: jllm prints
     * [1]3.0149,[2]3.3121,[3]3.5687,[4]3.4357,[5]3.5536,[6]3.4900,[7]3.4410 and 3.4410 +/- 0.24166, llama.cpp's log
     * [1]3.0149,[2]3.3123,[3]3.5688,[4]3.4358,[5]3.5534,[6]3.4899,[7]3.4409 and 3.4409 +/- 0.24165: at most 0.0002
     * (0.006%) apart.
     */
    static final double F32_PERPLEXITY_BOUND = 0.013 / 100;

    private static final java.util.regex.Pattern RUNNING = java.util.regex.Pattern.compile("\\[(\\d+)\\](\\d+\\.\\d{4}),");
    private static final java.util.regex.Pattern FINAL = java.util.regex.Pattern.compile(
            "Final estimate: PPL = (\\d+\\.\\d{4}) \\+/- (\\d+\\.\\d{5})");

    /**
     * The output of {@code jllm perplexity} on stories260K-f32.gguf, ppl_text.txt and a context of 128 has
     * llama-perplexity's lines, and every figure on them (the running estimate after each chunk, the final estimate
     * and its +/-) is llama.cpp's in {@code golden/LOG} within {@link #F32_PERPLEXITY_BOUND} plus the printing.
     */
    static void assertPrintsLlamaPerplexityFigures(String out, String log) {
        String reference;
        try {
            reference = Files.readString(SharedData.golden(log), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertTrue(out.matches("(?s)(\\[\\d\\]\\d\\.\\d{4},){7}\\s*Final estimate: PPL = \\d\\.\\d{4} \\+/- 0\\.\\d{5}\\s*"),
                "llama-perplexity's two lines: " + out);
        java.util.List<String[]> ours = RUNNING.matcher(out).results().map(m -> new String[] {m.group(1), m.group(2)})
                .toList();
        java.util.List<String[]> theirs = RUNNING.matcher(reference).results()
                .map(m -> new String[] {m.group(1), m.group(2)}).toList();
        assertEquals(7, theirs.size(), "running estimates in " + log);
        assertEquals(theirs.size(), ours.size(), out);
        for (int i = 0; i < ours.size(); i++) {
            assertEquals(theirs.get(i)[0], ours.get(i)[0], "chunk number");
            assertPrintedClose(theirs.get(i)[1], ours.get(i)[1], "running estimate after chunk " + (i + 1));
        }
        java.util.regex.Matcher a = FINAL.matcher(out);
        java.util.regex.Matcher b = FINAL.matcher(reference);
        assertTrue(a.find(), out);
        assertTrue(b.find(), log);
        assertPrintedClose(b.group(1), a.group(1), "final estimate");
        assertPrintedClose(b.group(2), a.group(2), "its +/-");
    }

    private static void assertPrintedClose(String expected, String actual, String what) {
        java.math.BigDecimal e = new java.math.BigDecimal(expected);
        java.math.BigDecimal a = new java.math.BigDecimal(actual);
        assertEquals(e.scale(), a.scale(), what + ": printed to llama.cpp's digits");
        double printing = e.ulp().doubleValue(); // half a unit on each side
        double allowed = F32_PERPLEXITY_BOUND * e.doubleValue() + printing;
        assertTrue(Math.abs(a.doubleValue() - e.doubleValue()) <= allowed,
                what + ": jllm prints " + actual + ", llama-perplexity " + expected + " (allowed " + allowed + ")");
    }

    @Test
    void inspectListsTheTensors() {
        Result r = run("inspect", SharedData.model("stories260K-q8_0-mixed.gguf").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("GGUF"), r.out());
        assertTrue(r.out().contains("blk.0.attn_q.weight"), r.out());
        assertTrue(r.out().contains("Q8_0"), r.out());
        assertTrue(r.out().contains("dim 64, layers 5, heads 8, kv heads 4"), r.out());
    }

    // ---- bad input: one line naming the file and the problem, exit code 2, no stack trace ----

    static void assertOneLineError(Result r, String... fragments) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, "one line of error: " + r.err());
        assertTrue(lines[0].startsWith("jllm: "), lines[0]);
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), "no stack trace: " + r.err());
        for (String f : fragments) {
            assertTrue(lines[0].contains(f), "'" + f + "' in: " + lines[0]);
        }
    }

    @Test
    void missingFile(@TempDir Path dir) {
        Path missing = dir.resolve("nope.gguf");
        assertOneLineError(run("generate", "-m", missing.toString(), "-p", "hi"), missing.toString(), "no such file");
    }

    @Test
    void truncatedGguf(@TempDir Path dir) throws IOException {
        byte[] all = Files.readAllBytes(SharedData.model("stories260K-f32.gguf"));
        for (int length : new int[] {3, 20, 700, all.length / 2, all.length - 1}) {
            Path cut = dir.resolve("cut" + length + ".gguf");
            Files.write(cut, Arrays.copyOf(all, length));
            assertOneLineError(run("generate", "-m", cut.toString(), "-p", "hi"), cut.toString());
        }
    }

    @Test
    void truncatedLlama2c(@TempDir Path dir) throws IOException {
        byte[] all = Files.readAllBytes(SharedData.model("stories260K.bin"));
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(all, all.length - 100));
        assertOneLineError(run("generate", "-m", cut.toString(), "--tokenizer", tok(), "-p", "hi"), cut.toString());
    }

    @Test
    void wrongMagic(@TempDir Path dir) throws IOException {
        byte[] all = Files.readAllBytes(SharedData.model("stories260K-f32.gguf"));
        all[0] = 'X';
        Path bad = dir.resolve("magic.gguf");
        Files.write(bad, all);
        assertOneLineError(run("inspect", bad.toString()), bad.toString(), "magic");
    }

    @Test
    void unknownTensorType(@TempDir Path dir) throws IOException {
        byte[] all = Files.readAllBytes(SharedData.model("stories260K-f32.gguf"));
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int typeAt = tensorInfoTypeOffset(all, "output_norm.weight");
        b.putInt(typeAt, 99);
        Path bad = dir.resolve("type.gguf");
        Files.write(bad, all);
        assertOneLineError(run("generate", "-m", bad.toString(), "-p", "hi"), bad.toString(), "99");
    }

    @Test
    void tensorSizeDoesNotMatchShape(@TempDir Path dir) throws IOException {
        byte[] all = Files.readAllBytes(SharedData.model("stories260K-f32.gguf"));
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int typeAt = tensorInfoTypeOffset(all, "blk.0.attn_q.weight");
        // dims are just before the type: n_dims = 2, so the second dim (rows) sits 8 bytes before the type
        b.putLong(typeAt - 8, 65);
        Path bad = dir.resolve("shape.gguf");
        Files.write(bad, all);
        assertOneLineError(run("generate", "-m", bad.toString(), "-p", "hi"), bad.toString(), "blk.0.attn_q.weight");
    }

    @Test
    void promptLongerThanContext() {
        String prompt = "Once upon a time there was a little dog who liked to run in the park with his friends";
        assertOneLineError(run("generate", "-m", bin(), "--tokenizer", tok(), "-p", prompt, "--ctx-size", "8"),
                "context holds 8");
    }

    @Test
    void badOptionValue() {
        Result r = run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "x", "--top-p", "7");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("jllm: ") && r.err().contains("top-p"), r.err());
    }

    @Test
    void verboseShowsTheStackTrace(@TempDir Path dir) {
        Result r = run("generate", "-m", dir.resolve("nope.gguf").toString(), "-p", "hi", "--verbose");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat "), r.err());
    }

    /** Byte offset of the type field of a tensor's info in a GGUF header (name, n_dims, dims, type). */
    static int tensorInfoTypeOffset(byte[] file, String name) {
        byte[] needle = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        outer:
        for (int i = 8; i + needle.length < file.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (file[i + j] != needle[j]) {
                    continue outer;
                }
            }
            if (b.getLong(i - 8) != needle.length) {
                continue;
            }
            int at = i + needle.length;
            int nDims = b.getInt(at);
            return at + 4 + 8 * nDims;
        }
        throw new AssertionError("tensor info of " + name + " not found");
    }
}
