package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Token ids that llama.cpp produced for the same texts and vocabularies. */
class TokenizerGoldenTest {

    private static Tokenizer tok512;
    private static Tokenizer llama2;

    @BeforeAll
    static void load() {
        tok512 = Tokenizer.from(Llama2cTokenizerLoader.load(SharedData.file("models/tok512.bin"), 512));
        llama2 = Tokenizer.from(Llama2cTokenizerLoader.load(SharedData.file("vocab/llama2-tokenizer.bin"), 32000));
    }

    @Test
    void pplTextUnderTok512MatchesLlamaCpp() {
        int[] expected = SharedData.bracketedIds("golden/tokenize_ppl_text_tok512.txt");
        String text = SharedData.text("golden/ppl_text.txt");
        int[] actual = tok512.encode(text, true, true);
        assertEquals(1024, expected.length);
        assertArrayEquals(expected, actual);
        assertEquals(text, tok512.decode(actual));
    }

    @Test
    void pplTextUnderLlama2MatchesLlamaCpp() {
        int[] expected = SharedData.bracketedIds("golden/tokenize_ppl_text_ggml-vocab-llama-spm.txt");
        String text = SharedData.text("golden/ppl_text.txt");
        int[] actual = llama2.encode(text, true, true);
        assertArrayEquals(expected, actual);
        assertEquals(text, llama2.decode(actual));
    }

    /** llama.cpp's test-tokenizer-0 on ggml-vocab-llama-spm.gguf: no BOS, special tokens not parsed. */
    @Test
    void llamaSpmTestVectors() {
        String inputs = SharedData.text("vocab/ggml-vocab-llama-spm.gguf.inp");
        String outputs = SharedData.text("vocab/ggml-vocab-llama-spm.gguf.out");
        List<String> texts = splitLikeTestTokenizer0(inputs);
        List<String> lines = outputs.lines().toList();
        assertEquals(46, texts.size(), "number of test inputs");
        assertEquals(texts.size(), lines.size(), "one output line per input");

        List<String> failures = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            String text = texts.get(i);
            String line = lines.get(i).strip();
            int[] expected = line.isEmpty() ? new int[0]
                    : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            int[] actual = llama2.encode(text, false, false);
            if (!Arrays.equals(expected, actual)) {
                failures.add("vector " + i + " '" + text + "': expected " + Arrays.toString(expected)
                        + " got " + Arrays.toString(actual));
            } else if (!text.equals(llama2.decode(actual))) {
                failures.add("vector " + i + " '" + text + "' decodes to '" + llama2.decode(actual) + "'");
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /** Inputs are separated by "\n__ggml_vocab_test__\n"; the newline before the separator is not part of the input. */
    static List<String> splitLikeTestTokenizer0(String raw) {
        String separator = "\n__ggml_vocab_test__\n";
        List<String> texts = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(separator, pos);
            if (next < 0) {
                texts.add(raw.substring(pos));
                break;
            }
            texts.add(raw.substring(pos, next));
            pos = next + separator.length();
        }
        return texts;
    }
}
