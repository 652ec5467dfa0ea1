package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Chat-formatted text with special tokens, tokenized as llama.cpp's {@code llama-tokenize} tokenizes it
 * ({@code ../shared/vocab/special_tokens_llamacpp.json}, 20 texts): with special-token parsing and without, BOS as
 * each vocabulary asks, for the Llama 2, Llama 3, Phi-3 and GPT-2 vocabularies. Every other file of the same
 * vocabulary must give the same ids: Llama 2's {@code tokenizer.model} and llama2.c {@code tokenizer.bin}, Llama 3's
 * {@code tokenizer.json} and Meta's tiktoken {@code tokenizer.model}.
 */
class SpecialTokensReferenceTest {

    /** The files that hold each reference vocabulary; the first is the GGUF llama-tokenize read. */
    private static final Map<String, List<String>> FILES = Map.of(
            "llama-spm", List.of(SharedVocabs.LLAMA_SPM, SharedVocabs.LLAMA2_MODEL, SharedVocabs.LLAMA2_BIN),
            "llama3", List.of(SharedVocabs.LLAMA3, SharedVocabs.LLAMA3_JSON, SharedVocabs.LLAMA3_TIKTOKEN),
            "phi-3", List.of(SharedVocabs.PHI3),
            "gpt-2", List.of(SharedVocabs.GPT2));

    private static final Pattern SPECIAL_NAME = Pattern.compile("<\\|[^|<>]*\\|>|</?s>|<unk>");

    /** One text of the reference file and llama-tokenize's two answers for it. */
    record Case(int index, String vocab, String text, int[] parsed, int[] plain) {
        @Override
        public String toString() {
            return vocab + " #" + index + " '" + text.replace("\n", "\\n") + "'";
        }
    }

    /** A case read through one file. */
    record Run(Case reference, String file) {
        @Override
        public String toString() {
            return reference + " via " + file.substring(file.lastIndexOf('/') + 1);
        }
    }

    static List<Case> cases() throws IOException {
        JsonNode root = new ObjectMapper().readTree(SharedData.file("vocab/special_tokens_llamacpp.json").toFile());
        List<Case> cases = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            String vocab = c.get("vocab").asText();
            assertEquals(FILES.get(vocab).getFirst(), "vocab/" + c.get("file").asText(), "the GGUF of " + vocab);
            cases.add(new Case(cases.size(), vocab, c.get("text").asText(), ints(c.get("ids_parse_special")),
                    ints(c.get("ids_no_parse_special"))));
        }
        return cases;
    }

    /** The cases of one vocabulary, for tests of what the ids do not show (decoding, end of generation). */
    static List<Case> cases(String vocab) throws IOException {
        return cases().stream().filter(c -> c.vocab().equals(vocab)).toList();
    }

    static List<Run> runs() throws IOException {
        List<Run> runs = new ArrayList<>();
        for (Case c : cases()) {
            for (String file : FILES.get(c.vocab())) {
                if (namesTheSameTokens(c.text(), FILES.get(c.vocab()).getFirst(), file)) {
                    runs.add(new Run(c, file));
                }
            }
        }
        return runs;
    }

    /**
     * Whether every special-token name written in the text means the same token (or none) in both files. Meta's
     * tiktoken file names Llama 3.1's tokens ({@code <|eom_id|>}, {@code <|python_tag|>} at 128008 and 128010, and
     * the reserved tokens after them shifted), the GGUF Llama 3.0's; texts that name those cannot share an answer.
     */
    private static boolean namesTheSameTokens(String text, String referenceFile, String file) {
        String[] reference = SharedVocabs.spec(referenceFile).tokens();
        String[] other = SharedVocabs.spec(file).tokens();
        Matcher names = SPECIAL_NAME.matcher(text);
        while (names.find()) {
            if (indexOf(reference, names.group()) != indexOf(other, names.group())) {
                return false;
            }
        }
        return true;
    }

    private static int indexOf(String[] tokens, String token) {
        return Arrays.asList(tokens).indexOf(token);
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("runs")
    void sameIdsAsLlamaTokenize(Run run) {
        Tokenizer tokenizer = SharedVocabs.tokenizer(run.file());
        Case c = run.reference();
        boolean bos = tokenizer.addBosByDefault();
        assertEquals(Arrays.toString(c.parsed()), Arrays.toString(tokenizer.encode(c.text(), bos, true)),
                "with special tokens parsed");
        assertEquals(Arrays.toString(c.plain()), Arrays.toString(tokenizer.encode(c.text(), bos, false)),
                "without parsing special tokens");
    }

    @Test
    void everyVocabularyAndFileIsCovered() throws IOException {
        List<Run> runs = runs();
        assertEquals(20, cases().size());
        for (List<String> files : FILES.values()) {
            for (String file : files) {
                assertTrue(runs.stream().filter(r -> r.file().equals(file)).count() >= 3, file);
            }
        }
        // The Llama 3 texts naming tokens the tiktoken file calls otherwise are the only ones left out.
        assertEquals(cases().size() * 1 + 2 * 6 + 2 * 7 - 3, runs.size());
    }
}
