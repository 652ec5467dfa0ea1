package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a new user (often a llama.cpp user) tried on the command line (issue 14): llama.cpp's flags and special values,
 * prompts from files and pipes, a reader that closes the pipe, random seeds, bench lists, and a help that says what to
 * do next. In-process; each test fails on the code before the fix.
 */
class CommandLineHabitsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static String gguf() {
        return SharedData.model("stories260K.gguf").toString();
    }

    /** Runs jllm with {@code stdin} as standard input (a pipe, or a terminal when {@code terminal}). */
    static CliTest.Result run(String stdin, boolean terminal, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), terminal,
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new CliTest.Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static CliTest.Result run(String... args) {
        return run("", true, args);
    }

    private static JsonNode json(CliTest.Result r) throws IOException {
        assertEquals(0, r.code(), r.err());
        return JSON.readTree(r.out());
    }

    // ---- item 5: llama.cpp's flags; unknown commands and options ----

    @Test
    void llamaCppMultiLetterFlagsAreWholeOptions() throws IOException {
        CliTest.Result ngl = run("generate", "-m", gguf(), "-ngl", "99", "-p", "Once upon a time", "--temp", "0", "-n", "4");
        assertEquals(0, ngl.code(), ngl.err()); // was: Invalid value for option '--n-predict': 'gl'
        assertTrue(ngl.err().contains("jllm: note: -ngl 99 is ignored: jllm runs on the CPU"), ngl.err());
        assertTrue(ngl.out().startsWith("Once upon a time, there was"), ngl.out());

        JsonNode plain = json(run("generate", "-m", gguf(), "-p", "Hi", "--chat-template", "chatml", "--temp", "0", "-n",
                "1", "--format", "json"));
        JsonNode sys = json(run("generate", "-m", gguf(), "-sys", "Be kind.", "-p", "Hi", "--chat-template", "chatml",
                "--temp", "0", "-n", "1", "--format", "json"));
        assertTrue(sys.get("prompt_ids").size() > plain.get("prompt_ids").size(), "the system message is in the prompt");
        JsonNode longName = json(run("generate", "-m", gguf(), "--system-prompt", "Be kind.", "-p", "Hi", "--chat-template",
                "chatml", "--temp", "0", "-n", "1", "--format", "json"));
        assertEquals(sys.get("prompt_ids"), longName.get("prompt_ids"));

        // -cnv: llama.cpp's conversation mode is jllm chat; with piped input, one answer per line
        CliTest.Result cnv = run("Once upon a time\n", false, "generate", "-m", gguf(), "-cnv", "--chat-template", "llama2",
                "--temp", "0", "-n", "6");
        assertEquals(0, cnv.code(), cnv.err());
        CliTest.Result chat = run("Once upon a time\n", false, "chat", "-m", gguf(), "--chat-template", "llama2", "--temp",
                "0", "-n", "6");
        assertEquals(chat.out(), cnv.out(), "-cnv answers as jllm chat does");
        CliTest.Result chatSys = run("Once upon a time\n", false, "chat", "-m", gguf(), "-sys", "Be kind.", "-cnv",
                "--chat-template", "llama2", "--temp", "0", "-n", "6");
        assertEquals(0, chatSys.code(), chatSys.err());
    }

    @Test
    void unknownOptionsAndCommandsAreNamed() {
        assertErrorThenHint(run("generate", "-m", gguf(), "-p", "x", "-fa"), "jllm: unknown option -fa");
        assertErrorThenHint(run("generate", "-x"), "jllm: unknown option -x");
        CliTest.Result foo = run("foo");
        assertErrorThenHint(foo, "jllm: unknown command 'foo'; the commands are: generate, bench,");
        assertTrue(foo.err().contains(" chat,") && foo.err().contains(" tokenize,"), foo.err());
    }

    /** Issue 19: jllm alone (and --help) lists the commands, one line each, with examples. */
    @Test
    void jllmAloneListsTheCommandsWithExamples() {
        CliTest.Result alone = run();
        assertEquals(0, alone.code(), alone.err());
        assertEquals(alone.out(), run("--help").out());
        List<String> lines = alone.out().lines().toList();
        int start = lines.indexOf("Commands:");
        assertTrue(start > 0, alone.out());
        for (String command : new String[] {"generate", "chat", "bench", "perplexity", "tokenize", "inspect", "template",
            "convert", "dump", "pull", "list", "rm", "synth"}) {
            String line = lines.stream().skip(start).filter(l -> l.startsWith("  " + command + " ")).findFirst()
                    .orElseThrow(() -> new AssertionError(command + " is not listed: " + alone.out()));
            int index = lines.indexOf(line);
            assertTrue(lines.get(index + 1).startsWith("  ") && !lines.get(index + 1).startsWith("   "),
                    "one line for " + command + ": " + alone.out());
            assertTrue(line.length() <= 100, line);
        }
        assertTrue(alone.out().contains("Examples:\n  jllm generate -p \"Once upon a time\" --temp 0 -n 200"), alone.out());
        assertFalse(alone.err().contains("required"), alone.err());
    }

    /** Issue 19: without -m or -hf, every command that runs a model uses the bundled demo model and says so once. */
    @Test
    void everyModelCommandDefaultsToTheBundledModel() {
        String notice = "jllm: using the bundled TinyStories-260K demo model; pass -m FILE or -hf REPO for your own\n";
        String ppl = SharedData.golden("ppl_text.txt").toString();
        String[][] commands = {
            {"generate", "-p", "Once upon a time", "--temp", "0", "-n", "12"},
            {"tokenize", "-p", "Once upon a time", "--ids"},
            {"inspect"},
            {"bench", "-p", "8", "-n", "4", "-r", "1", "--no-warmup"},
            {"perplexity", "-f", ppl, "--ctx-size", "128"},
        };
        for (String[] command : commands) {
            CliTest.Result r = run(command);
            assertEquals(0, r.code(), String.join(" ", command) + ": " + r.err());
            assertTrue(r.err().startsWith(notice) && r.err().indexOf(notice, 1) < 0, command[0] + ": " + r.err());
        }
        assertTrue(run(commands[0]).out().startsWith("Once upon a time, there was a little girl named Lily."));
        assertEquals("[1, 403, 407, 261, 378]", run(commands[1]).out().strip());
        assertTrue(run(commands[2]).out().contains("file:      <bundled>/stories260K.gguf"));
        CliTest.Result chat = run("Once upon a time\n", false, "chat", "--chat-template", "llama2", "--temp", "0", "-n", "4");
        assertEquals(0, chat.code(), chat.err());
        assertTrue(chat.err().startsWith(notice), chat.err());
        // The demo model has no chat template of its own: chat (and serve) use llama2's without being told.
        CliTest.Result plain = run("Once upon a time\n", false, "chat", "--temp", "0", "-n", "4");
        assertEquals(0, plain.code(), plain.err());
        assertEquals(chat.out(), plain.out());
    }

    // ---- item 6: --seed -1 and no --seed are fresh random seeds, printed ----

    @Test
    void seedMinusOneIsRandomAndPrinted() throws IOException {
        String[] args = {"generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "1.5", "--seed", "-1", "-n", "30",
            "--format", "json"};
        JsonNode a = json(run(args));
        JsonNode b = json(run(args));
        assertNotEquals(a.get("seed"), b.get("seed"));
        assertNotEquals(a.get("text"), b.get("text"), "two runs with --seed -1 tell two stories");
        JsonNode again = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "1.5", "--seed",
                a.get("seed").asText(), "-n", "30", "--format", "json"));
        assertEquals(a.get("text"), again.get("text"), "the printed seed reproduces the text");
        JsonNode none = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "1.5", "-n", "30",
                "--format", "json"));
        assertTrue(none.get("seed").asLong() >= 0, "no --seed: a fresh seed, printed too");

        CliTest.Result verbose = run("generate", "-m", gguf(), "-p", "Once", "--seed", "-1", "-n", "2", "--verbose");
        assertEquals(0, verbose.code(), verbose.err());
        assertTrue(verbose.err().matches("(?s).*jllm: seed \\d+\n.*"), verbose.err());
        CliTest.Result given = run("generate", "-m", gguf(), "-p", "Once", "--seed", "42", "-n", "2", "--verbose");
        assertTrue(given.err().contains("jllm: seed 42\n"), given.err());
    }

    // ---- item 7: generation stops at the first failed write ----

    /** Standard output that fails after {@code limit} bytes, as a pipe whose reader left ({@code | head -c 20}). */
    private static final class ClosingPipe extends OutputStream {
        final int limit;
        int written;
        int writesAfterClose;

        ClosingPipe(int limit) {
            this.limit = limit;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (written >= limit) {
                writesAfterClose++;
                throw new IOException("Broken pipe");
            }
            written += len;
        }
    }

    @Test
    void generateStopsWhenStandardOutputCloses() {
        ClosingPipe pipe = new ClosingPipe(20);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(new String[] {"generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "0", "-n", "500",
            "--ignore-eos"}, new ByteArrayInputStream(new byte[0]), true, new PrintStream(pipe, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        String stderr = err.toString(StandardCharsets.UTF_8);
        assertEquals(GenerateCommand.EXIT_OUTPUT_FAILED, code, stderr);
        assertTrue(stderr.contains("jllm: stopped: standard output is closed"), stderr);
        assertTrue(pipe.writesAfterClose <= 2, "writes after the pipe closed: " + pipe.writesAfterClose
                + " (all 500 tokens were written before the fix)");
        assertFalse(stderr.contains("generation: 500 tokens"), stderr);
    }

    // ---- item 13: llama.cpp's special values ----

    @Test
    void nMinusOneIsUnlimitedOtherNegativesAreRefused() throws IOException {
        CliTest.assertOneLineError(run("generate", "-m", gguf(), "-p", "x", "-n", "-5"), "-n must be -1");
        CliTest.assertOneLineError(run("chat", "-m", gguf(), "-n", "-2"), "-n must be -1");
        JsonNode unlimited = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "0", "-n", "-1",
                "--ctx-size", "64", "--ignore-eos", "--format", "json"));
        assertEquals("context_full", unlimited.get("stop_reason").asText());
    }

    @Test
    void negativeTemperatureIsGreedyAsInLlamaCpp() throws IOException {
        JsonNode greedy = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "0", "-n", "20",
                "--format", "json"));
        JsonNode negative = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "-1", "-n", "20",
                "--format", "json"));
        assertEquals(greedy.get("generated_ids"), negative.get("generated_ids"));
        assertTrue(run("generate", "--help").out().replaceAll("\\s+", " ")
                .contains("0 or less picks the most likely token (greedy"), "documented in --help");
    }

    @Test
    void topKZeroAndMinusOneMeanOff() throws IOException {
        String[] common = {"generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "1", "--seed", "7", "-n", "20",
            "--min-p", "0", "--top-p", "1", "--format", "json", "--top-k"};
        JsonNode zero = json(run(concat(common, "0")));
        JsonNode minusOne = json(run(concat(common, "-1"))); // was: top-k must be 0 (off) or positive, got -1
        JsonNode vocab = json(run(concat(common, "512")));
        assertEquals(zero.get("generated_ids"), minusOne.get("generated_ids"));
        assertEquals(zero.get("generated_ids"), vocab.get("generated_ids"), "off = the whole vocabulary");
    }

    @Test
    void repeatLastNMinusOneIsTheWholeContext() throws IOException {
        String[] common = {"generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "0", "--repeat-penalty", "1.5",
            "-n", "60", "--ctx-size", "96", "--format", "json", "--repeat-last-n"};
        JsonNode whole = json(run(concat(common, "-1"))); // was: repeat-last-n must be 0 or positive
        JsonNode ctx = json(run(concat(common, "96")));
        JsonNode last8 = json(run(concat(common, "8")));
        assertEquals(ctx.get("generated_ids"), whole.get("generated_ids"));
        assertNotEquals(last8.get("generated_ids"), whole.get("generated_ids"), "the window matters here");
        CliTest.assertOneLineError(run(concat(common, "-2")), "--repeat-last-n must be -1");
    }

    @Test
    void jsonHasNoGenerationSpeedWhenNothingWasDecoded() throws IOException {
        for (String n : new String[] {"0", "1"}) {
            JsonNode r = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "0", "-n", n, "--format",
                    "json"));
            assertFalse(r.get("timings").has("generation_tokens_per_second"), "-n " + n + ": " + r);
            assertTrue(r.get("timings").has("prompt_tokens_per_second"));
        }
        JsonNode two = json(run("generate", "-m", gguf(), "-p", "Once upon a time", "--temp", "0", "-n", "3", "--format",
                "json"));
        assertTrue(two.get("timings").get("generation_tokens_per_second").asDouble() > 0, two.toString());
    }

    // ---- gaps: prompts from files and pipes, --ignore-eos ----

    @Test
    void promptFromFileOrStandardInput(@TempDir Path dir) throws IOException {
        String[] greedy = {"generate", "-m", gguf(), "--temp", "0", "-n", "8", "--format", "json"};
        JsonNode given = withoutTimings(json(run(concat(greedy, "-p", "Once upon a time"))));
        Path file = dir.resolve("prompt.txt");
        Files.writeString(file, "Once upon a time\n"); // one trailing newline is dropped, as llama.cpp does
        assertEquals(given, withoutTimings(json(run(concat(greedy, "-f", file.toString())))));
        assertEquals(given, withoutTimings(json(run("Once upon a time\n", false, concat(greedy, "-p", "-")))));
        assertEquals(given, withoutTimings(json(run("Once upon a time\n", false, greedy))), "no -p with a pipe");
        CliTest.assertOneLineError(run("", true, greedy), "no prompt: give -p TEXT, -f FILE, or pipe the prompt");
        CliTest.assertOneLineError(run(concat(greedy, "-p", "x", "-f", file.toString())), "not both");
        CliTest.assertOneLineError(run(concat(greedy, "-f", dir.resolve("missing.txt").toString())), "no such file");
    }

    private static JsonNode withoutTimings(JsonNode r) {
        ((com.fasterxml.jackson.databind.node.ObjectNode) r).remove("timings");
        ((com.fasterxml.jackson.databind.node.ObjectNode) r).remove("seed");
        return r;
    }

    /**
     * The TinyStories model ends a story with BOS (id 1), which llama.cpp does not take as the end; a copy whose
     * {@code tokenizer.ggml.eos_token_id} is 1 ends there, and --ignore-eos goes on past it.
     */
    @Test
    void ignoreEosGeneratesPastTheEndOfText(@TempDir Path dir) throws IOException {
        Path endsAtBos = GenerateOptionsTest.eosIsBos(dir.resolve("eos1.gguf"));
        String model = endsAtBos.toString();
        JsonNode ends = json(run("generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "--format", "json"));
        assertEquals("end_of_text", ends.get("stop_reason").asText());
        int length = ends.get("generated_ids").size();
        JsonNode on = json(run("generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "--ignore-eos", "-n",
                Integer.toString(length + 20), "--format", "json"));
        assertEquals("max_tokens", on.get("stop_reason").asText());
        assertEquals(length + 20, on.get("generated_ids").size());
        for (int i = 0; i < length; i++) {
            assertEquals(ends.get("generated_ids").get(i), on.get("generated_ids").get(i), "the same story up to its end");
        }
        for (JsonNode id : on.get("generated_ids")) {
            assertNotEquals(1, id.asInt(), "EOS is never sampled");
        }
    }

    // ---- gaps: bench with lists and CSV, as llama-bench ----

    @Test
    void benchTakesListsAndWritesCsv() {
        CliTest.Result r = run("bench", "-m", gguf(), "-t", "1,2", "-p", "8,16", "-n", "4", "-r", "1", "--no-warmup", "-o",
                "csv");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(7, lines.size(), r.out());
        List<String> header = List.of(lines.get(0).split(","));
        assertEquals("build_commit", header.get(0));
        int threads = header.indexOf("n_threads");
        int prompt = header.indexOf("n_prompt");
        int gen = header.indexOf("n_gen");
        int avg = header.indexOf("avg_ts");
        assertTrue(threads > 0 && prompt > 0 && gen > 0 && avg > 0, lines.get(0));
        String[][] expected = {{"1", "8", "0"}, {"1", "16", "0"}, {"1", "0", "4"}, {"2", "8", "0"}, {"2", "16", "0"},
            {"2", "0", "4"}};
        for (int i = 0; i < expected.length; i++) {
            String[] values = lines.get(i + 1).split(",");
            assertEquals(header.size(), values.length, lines.get(i + 1));
            for (String v : values) {
                assertTrue(v.startsWith("\"") && v.endsWith("\""), "quoted as llama-bench does: " + v);
            }
            assertEquals("\"" + expected[i][0] + "\"", values[threads], lines.get(i + 1));
            assertEquals("\"" + expected[i][1] + "\"", values[prompt], lines.get(i + 1));
            assertEquals("\"" + expected[i][2] + "\"", values[gen], lines.get(i + 1));
            assertTrue(Double.parseDouble(values[avg].replace("\"", "")) > 0, lines.get(i + 1));
        }
        CliTest.assertOneLineError(run("generate", "-m", gguf(), "-p", "x", "-t", "1,2"), "--threads takes one number here");
    }

    /** A usage error: one line saying what is wrong, then where to look. */
    private static void assertErrorThenHint(CliTest.Result r, String start) {
        assertEquals(2, r.code(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(2, lines.length, r.err());
        assertTrue(lines[0].startsWith(start), lines[0]);
        assertTrue(lines[1].startsWith("Try 'jllm "), lines[1]);
    }

    static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
