package dev.jllm.synth;

import dev.jllm.format.ModelFormatException;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.format.gguf.GgufValueType;
import dev.jllm.format.gguf.GgufWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code tokenizer.*} metadata of a generated model: copied from a GGUF file that has a vocabulary, or made up
 * (a SentencePiece-style vocabulary: control tokens, the 256 byte tokens, then pieces of growing length).
 *
 * @param size        number of tokens
 * @param description where it came from, for messages
 */
public record Vocabulary(int size, String description, List<Entry> entries) {

    /** One metadata key with its type (and element type for arrays). */
    public record Entry(String key, GgufValueType type, GgufValueType elementType, Object value) {
    }

    /** SentencePiece token types as llama.cpp numbers them. */
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, BYTE = 6;
    /** The smallest generated vocabulary: the three control tokens, 256 bytes and one piece. */
    public static final int MIN_GENERATED_SIZE = 3 + 256 + 1;

    public Vocabulary {
        entries = List.copyOf(entries);
    }

    /** Adds the entries to a file being written. */
    public void writeTo(GgufWriter writer) {
        for (Entry e : entries) {
            if (e.type() == GgufValueType.ARRAY) {
                writer.putArray(e.key(), e.elementType(), e.value());
            } else {
                writer.put(e.key(), e.type(), e.value());
            }
        }
    }

    /** Every {@code tokenizer.*} key of a GGUF file (a vocabulary-only file or a model). */
    public static Vocabulary fromGguf(Path path) {
        try (GgufFile file = GgufReader.read(path)) {
            if (!(file.metadata().get("tokenizer.ggml.tokens") instanceof String[] tokens)) {
                throw new ModelFormatException(path + ": no vocabulary (expected a GGUF file with tokenizer.ggml.tokens,"
                        + " such as ggml-vocab-llama-spm.gguf)");
            }
            if (!(file.metadata().get("tokenizer.ggml.model") instanceof String)) {
                throw new ModelFormatException(path + ": no tokenizer.ggml.model (expected a GGUF file with a complete"
                        + " tokenizer.ggml.* vocabulary)");
            }
            List<Entry> entries = new ArrayList<>();
            for (var e : file.metadata().entrySet()) {
                if (e.getKey().startsWith("tokenizer.")) {
                    GgufValueType type = file.valueTypes().get(e.getKey());
                    GgufValueType elementType = file.arrayElementTypes().get(e.getKey());
                    if (elementType == GgufValueType.ARRAY) {
                        continue; // arrays of arrays: not part of any tokenizer llama.cpp reads
                    }
                    entries.add(new Entry(e.getKey(), type, elementType, e.getValue()));
                }
            }
            return new Vocabulary(tokens.length, path.toString(), entries);
        }
    }

    /**
     * A made-up SentencePiece vocabulary of {@code size} tokens ({@code tokenizer.ggml.model = llama}): {@code <unk>},
     * {@code <s>}, {@code </s>}, the byte tokens {@code <0x00>} to {@code <0xFF>}, then "▁" and the printable ASCII
     * characters, then lower-case letter strings of growing length, each with and without the word-start mark "▁".
     * Every piece is the merge of two shorter ones, so the BPE tokenizer can reach it; scores fall with the index.
     */
    public static Vocabulary generated(int size) {
        if (size < MIN_GENERATED_SIZE) {
            throw new IllegalArgumentException("vocabulary size " + size + " is too small for a generated vocabulary"
                    + " (at least " + MIN_GENERATED_SIZE + ": 3 control tokens, 256 bytes and a piece)");
        }
        String[] tokens = new String[size];
        float[] scores = new float[size];
        int[] types = new int[size];
        tokens[0] = "<unk>";
        types[0] = UNKNOWN;
        tokens[1] = "<s>";
        types[1] = CONTROL;
        tokens[2] = "</s>";
        types[2] = CONTROL;
        int n = 3;
        for (int b = 0; b < 256; b++, n++) {
            tokens[n] = String.format("<0x%02X>", b);
            types[n] = BYTE;
        }
        List<String> pieces = new ArrayList<>();
        pieces.add("\u2581");
        for (char c = '!'; c <= '~'; c++) {
            pieces.add(String.valueOf(c));
        }
        List<String> level = new ArrayList<>();
        for (char c = 'a'; c <= 'z'; c++) {
            level.add(String.valueOf(c));
        }
        int first = n;
        for (String p : pieces) {
            if (n == size) {
                break;
            }
            tokens[n++] = p;
        }
        while (n < size) {
            // the word-start forms of the previous level, then the next level of plain letter strings
            for (int i = 0; i < level.size() && n < size; i++) {
                tokens[n++] = "\u2581" + level.get(i);
            }
            List<String> next = new ArrayList<>();
            for (int i = 0; i < level.size() && n < size; i++) {
                for (char c = 'a'; c <= 'z' && n < size; c++) {
                    String s = level.get(i) + c;
                    tokens[n++] = s;
                    next.add(s);
                }
            }
            level = next;
        }
        for (int i = first; i < size; i++) {
            types[i] = NORMAL;
            scores[i] = -(i - first);
        }
        List<Entry> entries = List.of(
                new Entry("tokenizer.ggml.model", GgufValueType.STRING, null, "llama"),
                new Entry("tokenizer.ggml.pre", GgufValueType.STRING, null, "default"),
                new Entry("tokenizer.ggml.tokens", GgufValueType.ARRAY, GgufValueType.STRING, tokens),
                new Entry("tokenizer.ggml.scores", GgufValueType.ARRAY, GgufValueType.FLOAT32, scores),
                new Entry("tokenizer.ggml.token_type", GgufValueType.ARRAY, GgufValueType.INT32, types),
                new Entry("tokenizer.ggml.bos_token_id", GgufValueType.UINT32, null, 1L),
                new Entry("tokenizer.ggml.eos_token_id", GgufValueType.UINT32, null, 2L),
                new Entry("tokenizer.ggml.unknown_token_id", GgufValueType.UINT32, null, 0L),
                new Entry("tokenizer.ggml.add_bos_token", GgufValueType.BOOL, null, true),
                new Entry("tokenizer.ggml.add_eos_token", GgufValueType.BOOL, null, false));
        return new Vocabulary(size, "generated", entries);
    }
}
