package dev.jllm.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tokenizer.spm.SentencePieceModel.ModelProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of the tokenizer files: Hugging Face {@code tokenizer.json},
 * {@code tokenizer.model} (SentencePiece's protobuf or tiktoken's text, told apart by content as {@link TokenizerFiles}
 * does) and llama2.c's {@code tokenizer.bin}. Each tokenizer that loads is built and run over text
 * ({@link FuzzedTokenizers}). Corpora in {@code TokenizerFilesFuzzTestInputs/}; {@code mvn verify} replays them,
 * {@code bench/fuzz.sh} fuzzes.
 */
public class TokenizerFilesFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(TokenizerException.class, ModelFormatException.class);
    /**
     * Heap per input byte: a token of one or two bytes costs a String, map entries in the loader and again in the
     * tokenizer (vocabulary, merge table, trie), a few hundred bytes in all; tiktoken's 256 special tokens are fixed.
     */
    private static final long BYTES_PER_BYTE = 256;
    private static final int TOKENS = 300;

    public static List<FuzzSeeds.Target> seeds() throws IOException {
        Map<String, byte[]> json = new LinkedHashMap<>();
        json.put("stories260K-tokenizer.json", Files.readAllBytes(
                SharedTestData.file("models/hf-transformers/stories260K-bf16/tokenizer.json")));
        json.put("llama3-300-tokens.json", trimmedTokenizerJson("vocab/llama3-tokenizer.json"));

        Map<String, byte[]> model = new LinkedHashMap<>();
        model.put("tok512.model", Files.readAllBytes(SharedTestData.file("models/torch/stories260K-meta/tokenizer.model")));
        ModelProto llama2 = ModelProto.parseFrom(Files.readAllBytes(SharedTestData.file("vocab/llama2-tokenizer.model")));
        ModelProto.Builder cut = llama2.toBuilder().clearPieces();
        for (int i = 0; i < TOKENS; i++) {
            cut.addPieces(llama2.getPieces(i));
        }
        model.put("llama2-300-pieces.model", cut.build().toByteArray());
        byte[] tiktoken = Files.readAllBytes(SharedTestData.file("vocab/llama3-tokenizer.model"));
        int end = 0;
        for (int lines = 0; lines < TOKENS; end++) {
            if (tiktoken[end] == '\n') {
                lines++;
            }
        }
        model.put("llama3-tiktoken-300-lines.model", Arrays.copyOf(tiktoken, end));

        Map<String, byte[]> bin = new LinkedHashMap<>();
        bin.put("tok512.bin", Files.readAllBytes(SharedTestData.file("models/tok512.bin")));
        byte[] llama2Bin = Files.readAllBytes(SharedTestData.file("vocab/llama2-tokenizer.bin"));
        ByteBuffer b = ByteBuffer.wrap(llama2Bin).order(ByteOrder.LITTLE_ENDIAN);
        b.position(4);
        for (int i = 0; i < TOKENS; i++) {
            b.getFloat();
            b.position(b.position() + b.getInt());
        }
        bin.put("llama2-300-tokens.bin", Arrays.copyOf(llama2Bin, b.position()));
        return List.of(new FuzzSeeds.Target(TokenizerFilesFuzzTest.class, "tokenizerJson", json),
                new FuzzSeeds.Target(TokenizerFilesFuzzTest.class, "tokenizerModel", model),
                new FuzzSeeds.Target(TokenizerFilesFuzzTest.class, "tokenizerBin", bin));
    }

    /** The first tokens of a tokenizer.json, the merges among them, and its first added tokens. */
    private static byte[] trimmedTokenizerJson(String sharedFile) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = (ObjectNode) mapper.readTree(SharedTestData.file(sharedFile).toFile());
        ObjectNode model = (ObjectNode) root.get("model");
        ObjectNode vocab = mapper.createObjectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue().asInt() < TOKENS) {
                vocab.set(e.getKey(), e.getValue());
            }
        }
        model.set("vocab", vocab);
        ArrayNode merges = mapper.createArrayNode();
        for (JsonNode merge : model.get("merges")) {
            String[] parts = merge.isArray() ? new String[] {merge.get(0).asText(), merge.get(1).asText()}
                    : merge.asText().split(" ", 2);
            if (vocab.has(parts[0]) && vocab.has(parts[1]) && vocab.has(parts[0] + parts[1])) {
                merges.add(merge);
            }
        }
        model.set("merges", merges);
        ArrayNode added = mapper.createArrayNode();
        for (JsonNode token : root.get("added_tokens")) {
            if (added.size() < 12) {
                ((ObjectNode) token).put("id", TOKENS + added.size());
                added.add(token);
            }
        }
        root.set("added_tokens", added);
        return mapper.writeValueAsBytes(root);
    }

    @FuzzTest
    @Timeout(30)
    void tokenizerJson(byte[] input) {
        Path file = FuzzContract.write("tokenizer-json/tokenizer.json", input);
        FuzzContract.check("tokenizer.json", input.length, BYTES_PER_BYTE, OWN,
                () -> FuzzedTokenizers.exercise(HfTokenizerJsonLoader.load(file)));
    }

    @FuzzTest
    @Timeout(30)
    void tokenizerModel(byte[] input) {
        Path file = FuzzContract.write("tokenizer-model/tokenizer.model", input);
        FuzzContract.check("tokenizer.model", input.length, BYTES_PER_BYTE, OWN,
                () -> FuzzedTokenizers.exercise(TokenizerFiles.load(file)));
    }

    @FuzzTest
    @Timeout(30)
    void tokenizerBin(byte[] input) {
        Path file = FuzzContract.write("tokenizer-bin/tokenizer.bin", input);
        FuzzContract.check("tokenizer.bin", input.length, BYTES_PER_BYTE, OWN, () -> {
            FuzzedTokenizers.exercise(Llama2cTokenizerLoader.load(file, 0));
            // as a model whose header claims a vocabulary size (the largest llama2.c's header bounds allow)
            FuzzContract.attempt("tokenizer.bin", OWN, () -> Llama2cTokenizerLoader.load(file, 1 << 24));
        });
    }
}
