package dev.jllm.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The tokenizers of {@code ../shared/vocab} (and models), loaded once per test run through {@link TokenizerFiles},
 * and llama.cpp's test vectors beside them.
 */
final class SharedVocabs {

    static final String LLAMA_SPM = "vocab/ggml-vocab-llama-spm.gguf";
    static final String LLAMA3 = "vocab/ggml-vocab-llama3-from-tiktoken.gguf";
    static final String GPT2 = "vocab/ggml-vocab-gpt-2.gguf";
    static final String PHI3 = "vocab/ggml-vocab-phi-3.gguf";
    static final String LLAMA2_MODEL = "vocab/llama2-tokenizer.model";
    static final String LLAMA2_BIN = "vocab/llama2-tokenizer.bin";
    static final String LLAMA3_JSON = "vocab/llama3-tokenizer.json";
    static final String LLAMA3_TIKTOKEN = "vocab/llama3-tokenizer.model";

    private static final Map<String, TokenizerSpec> SPECS = new ConcurrentHashMap<>();
    private static final Map<String, Tokenizer> TOKENIZERS = new ConcurrentHashMap<>();

    private SharedVocabs() {
    }

    static TokenizerSpec spec(String relative) {
        return SPECS.computeIfAbsent(relative, r -> TokenizerFiles.load(SharedData.file(r)));
    }

    static Tokenizer tokenizer(String relative) {
        return TOKENIZERS.computeIfAbsent(relative, r -> Tokenizer.from(spec(r)));
    }

    /** A test vector: an input text and llama.cpp's ids for it (no BOS, special tokens not parsed). */
    record Vector(int index, String text, int[] ids) {
        @Override
        public String toString() {
            return "vector " + index + " '" + text.replace("\n", "\\n") + "'";
        }
    }

    /** The vectors of a vocabulary GGUF file: its {@code .inp} and {@code .out}. */
    static List<Vector> vectors(String gguf) {
        List<String> texts = TokenizerGoldenTest.splitLikeTestTokenizer0(SharedData.text(gguf + ".inp"));
        List<String> lines = SharedData.text(gguf + ".out").lines().toList();
        if (texts.size() != lines.size()) {
            throw new AssertionError(gguf + ": " + texts.size() + " inputs but " + lines.size() + " output lines");
        }
        List<Vector> vectors = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            String line = lines.get(i).strip();
            int[] ids = line.isEmpty() ? new int[0]
                    : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            vectors.add(new Vector(i, texts.get(i), ids));
        }
        return vectors;
    }
}
