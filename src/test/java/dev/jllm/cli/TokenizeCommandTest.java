package dev.jllm.cli;

import static dev.jllm.cli.CliTest.assertOneLineError;
import static dev.jllm.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jllm tokenize}: llama-tokenize's output format, every kind of tokenizer file, and one-line errors. */
class TokenizeCommandTest {

    private static String vocab(String name) {
        return SharedData.file("vocab/" + name).toString();
    }

    @Test
    void piecesOnePerLineLikeLlamaTokenize() {
        CliTest.Result r = run("tokenize", "-m", vocab("ggml-vocab-llama-spm.gguf"), "-p", "Hello world");
        assertEquals(0, r.code(), r.err());
        // llama-tokenize prints "%6d -> '%s'" with the piece's text (special tokens shown).
        assertEquals("     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n", r.out());
    }

    @Test
    void idsAsAListAndWithoutBos() {
        CliTest.Result r = run("tokenize", "-m", vocab("ggml-vocab-llama3-from-tiktoken.gguf"), "-p", "Hello world",
                "--ids");
        assertEquals(0, r.code(), r.err());
        assertEquals("[128000, 9906, 1917]\n", r.out());
        r = run("tokenize", "-m", vocab("llama3-tokenizer.model"), "-p", "Hello world", "--ids", "--no-bos");
        assertEquals("[9906, 1917]\n", r.out());
    }

    @Test
    void pplTextIdsMatchLlamaTokenizeFromEveryFile() throws IOException {
        String expected = Files.readString(SharedData.golden("tokenize_ppl_text_ggml-vocab-llama3-from-tiktoken.txt"))
                .strip();
        for (String file : new String[] {"ggml-vocab-llama3-from-tiktoken.gguf", "llama3-tokenizer.json",
                "llama3-tokenizer.model"}) {
            CliTest.Result r = run("tokenize", "-m", vocab(file), "-f", SharedData.golden("ppl_text.txt").toString(),
                    "--ids", "--parse-special");
            assertEquals(0, r.code(), r.err());
            assertEquals(expected, r.out().strip(), file);
        }
        String tok512 = Files.readString(SharedData.golden("tokenize_ppl_text_tok512.txt")).strip();
        // A llama2.c checkpoint finds its tokenizer through --tokenizer.
        CliTest.Result r = run("tokenize", "-m", SharedData.model("stories260K.bin").toString(), "--tokenizer",
                SharedData.model("tok512.bin").toString(), "-f", SharedData.golden("ppl_text.txt").toString(), "--ids",
                "--parse-special");
        assertEquals(0, r.code(), r.err());
        assertEquals(tok512, r.out().strip());
    }

    @Test
    void specialTokensOnlyWithParseSpecial() {
        String text = "<|begin_of_text|>Hi<|eot_id|>";
        CliTest.Result plain = run("tokenize", "-m", vocab("llama3-tokenizer.json"), "-p", text, "--ids", "--no-bos");
        CliTest.Result special = run("tokenize", "-m", vocab("llama3-tokenizer.json"), "-p", text, "--ids", "--no-bos",
                "--parse-special");
        assertEquals("[128000, 13347, 128009]\n", special.out());
        assertTrue(!plain.out().contains("128000") && !plain.out().contains("128009"), plain.out());
        CliTest.Result pieces = run("tokenize", "-m", vocab("llama3-tokenizer.json"), "-p", text, "--no-bos",
                "--parse-special", "--show-count");
        assertEquals("128000 -> '<|begin_of_text|>'\n 13347 -> 'Hi'\n128009 -> '<|eot_id|>'\n"
                + "Total number of tokens: 3\n", pieces.out());
    }

    @Test
    void partialCharactersShowAsByteEscapes() {
        // The llama emoji is four byte tokens in Llama 2's vocabulary.
        CliTest.Result r = run("tokenize", "-m", vocab("llama2-tokenizer.model"), "-p", "🦙", "--no-bos");
        assertEquals(0, r.code(), r.err());
        assertEquals("""
                 29871 -> ' '
                   243 -> '\\xF0'
                   162 -> '\\x9F'
                   169 -> '\\xA6'
                   156 -> '\\x99'
                """, r.out());
    }

    @Test
    void detokenize() {
        CliTest.Result r = run("tokenize", "-m", vocab("llama2-tokenizer.bin"), "--detokenize", "1,15043,3186");
        assertEquals(0, r.code(), r.err());
        assertEquals("Hello world\n", r.out());
        r = run("tokenize", "-m", vocab("ggml-vocab-gpt-2.gguf"), "--detokenize", "[15496, 995]");
        assertEquals("Hello world\n", r.out());
        // The ids that --ids prints come back as the text.
        String ids = run("tokenize", "-m", vocab("llama3-tokenizer.model"), "-p", "naïve café 🦙\nok", "--ids").out();
        assertEquals("naïve café 🦙\nok\n", run("tokenize", "-m", vocab("llama3-tokenizer.model"), "--detokenize", ids)
                .out());
    }

    // ---- errors: one line, exit code 2

    @Test
    void badIdsAndMissingInput() {
        assertOneLineError(run("tokenize", "-m", vocab("llama2-tokenizer.bin"), "--detokenize", "1,x"), "'x'");
        assertOneLineError(run("tokenize", "-m", vocab("llama2-tokenizer.bin"), "--detokenize", "32000"),
                "outside the vocabulary of 32000");
        assertOneLineError(run("tokenize", "-m", vocab("llama2-tokenizer.bin")), "exactly one of");
        assertOneLineError(run("tokenize", "-m", vocab("llama2-tokenizer.bin"), "-p", "a", "--detokenize", "1"),
                "exactly one of");
    }

    @Test
    void missingOrBrokenFiles(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("tokenizer.json");
        assertOneLineError(run("tokenize", "-m", missing.toString(), "-p", "hi"), missing.toString(), "no such file");
        Path cut = dir.resolve("tokenizer.model");
        byte[] whole = Files.readAllBytes(SharedData.file("vocab/llama2-tokenizer.model"));
        Files.write(cut, Arrays.copyOf(whole, 1000));
        assertOneLineError(run("tokenize", "-m", cut.toString(), "-p", "hi"), cut.toString());
        Path badMerges = dir.resolve("bad-merges.json");
        Files.writeString(badMerges, """
                {"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE",
                 "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}""");
        assertOneLineError(run("tokenize", "-m", badMerges.toString(), "-p", "hi"), badMerges.toString(), "'ab'");
        Path noTokenizer = dir.resolve("stories260K.bin");
        Files.copy(SharedData.model("stories260K.bin"), noTokenizer);
        assertOneLineError(run("tokenize", "-m", noTokenizer.toString(), "-p", "hi"), "--tokenizer");
    }
}
