package dev.jllm.format.gguf;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tokenizer.FuzzedTokenizers;
import dev.jllm.tokenizer.TokenizerException;
import dev.jllm.tokenizer.TokenizerSpec;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the GGUF reader (issue 16): header, metadata, tensor table and the data section's
 * bounds, then the llama config and the tokenizer the metadata describes, built and run. The corpus
 * ({@code GgufFuzzTestInputs/}) starts from the heads of the real files in ../shared (metadata and tensor table, data
 * cut off) and holds every input that once broke the contract; {@code mvn verify} replays it, {@code bench/fuzz.sh}
 * fuzzes.
 */
public class GgufFuzzTest {

    private static final Path NAME = Path.of("fuzz.gguf");
    /**
     * The project's own exceptions; but the parser's last-resort message ("malformed GGUF file at byte ...", for a
     * runtime exception no explicit check caught) means a check is missing, so it counts as a finding.
     */
    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class, TokenizerException.class)
            .and(t -> !String.valueOf(t.getMessage()).contains("malformed GGUF file at byte"));
    /**
     * Heap per input byte: the smallest metadata items grow most (an 8-byte empty string becomes a String and its
     * reference, about 28 bytes, and a vocabulary entry of the tokenizer built from it a few map entries more).
     */
    private static final long BYTES_PER_BYTE = 64;

    /**
     * A valid tiny model; the heads of real models (metadata and tensor table); vocabulary files cut to their first
     * 300 tokens and merges, one per tokenizer kind (SentencePiece Llama 2 and Phi-3, byte-level Llama 3 and GPT-2).
     */
    public static FuzzSeeds.Target seeds() throws IOException {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        seeds.put("tiny-llama.gguf", TestGguf.tinyLlama().bytes());
        for (String model : new String[] {"stories260K.gguf", "stories260K-q4_0-mixed.gguf", "llama3-tiny-q8_0.gguf"}) {
            try (GgufFile gguf = GgufReader.read(SharedTestData.file("models/" + model))) {
                seeds.put(model.replace(".gguf", "-head.gguf"), trimmedVocabulary(gguf, 300, true));
            }
        }
        for (String vocab : new String[] {"llama-spm", "phi-3", "llama3-from-tiktoken", "gpt-2"}) {
            try (GgufFile gguf = GgufReader.read(SharedTestData.file("vocab/ggml-vocab-" + vocab + ".gguf"))) {
                seeds.put("vocab-" + vocab + ".gguf", trimmedVocabulary(gguf, 300, false));
            }
        }
        return new FuzzSeeds.Target(GgufFuzzTest.class, "headerMetadataAndTensorTable", seeds);
    }

    /** The file's metadata with token arrays cut to {@code tokens} entries, and, if asked, its tensor table. */
    private static byte[] trimmedVocabulary(GgufFile gguf, int tokens, boolean tensorTable) throws IOException {
        GgufWriter w = new GgufWriter();
        for (String key : gguf.metadata().keySet()) {
            Object v = gguf.metadata().get(key);
            if (key.equals("tokenizer.ggml.tokens") || key.equals("tokenizer.ggml.scores")
                    || key.equals("tokenizer.ggml.token_type") || key.equals("tokenizer.ggml.merges")) {
                int n = Math.min(java.lang.reflect.Array.getLength(v), tokens);
                Object cut = java.lang.reflect.Array.newInstance(v.getClass().getComponentType(), n);
                System.arraycopy(v, 0, cut, 0, n);
                w.putArray(key, gguf.arrayElementTypes().get(key), cut);
            } else if (!key.equals("tokenizer.chat_template") || tensorTable) {
                w.copy(gguf, key);
            }
        }
        if (tensorTable) {
            gguf.tensorInfos().forEach(t -> w.copyTensor(gguf, t));
        }
        Path file = Files.createTempFile("seed", ".gguf");
        try {
            w.write(file, null);
            long dataOffset;
            try (GgufFile written = GgufReader.read(file)) {
                dataOffset = written.dataOffset();
            }
            // the tensor table without the tensor data
            return java.util.Arrays.copyOf(Files.readAllBytes(file), (int) dataOffset);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @FuzzTest
    @Timeout(30)
    void headerMetadataAndTensorTable(byte[] input) {
        FuzzContract.check("GGUF", input.length, BYTES_PER_BYTE, OWN, () -> {
            MemorySegment data = MemorySegment.ofArray(input);
            try (GgufFile gguf = GgufParser.parse(NAME, data, Arena.ofConfined())) {
                gguf.tensors();
                FuzzContract.attempt("GGUF tokenizer", OWN, () -> {
                    TokenizerSpec spec = GgufReader.tokenizerSpec(gguf);
                    if (spec != null) {
                        FuzzedTokenizers.exercise(spec);
                    }
                });
                FuzzContract.requireSaneConfig("GGUF", GgufReader.llamaConfig(gguf));
            }
            try (ModelFile model = GgufReader.load(NAME, data, Arena.ofConfined())) {
                FuzzContract.requireSaneConfig("GGUF", model.config());
                model.tensors().values().forEach(t -> t.byteSize());
            }
        });
    }
}
