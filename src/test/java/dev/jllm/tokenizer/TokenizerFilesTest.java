package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.tokenizer.spm.SentencePieceModel.ModelProto;
import dev.jllm.tokenizer.spm.SentencePieceModel.TrainerSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Recognising tokenizer files by content, and one-line errors that name the file for broken ones. */
class TokenizerFilesTest {

    @TempDir
    Path dir;

    @Test
    void everyKindIsRecognisedByContent() throws IOException {
        assertEquals(TokenizerFiles.Kind.SENTENCEPIECE, kind(SharedVocabs.LLAMA2_MODEL));
        assertEquals(TokenizerFiles.Kind.TIKTOKEN, kind(SharedVocabs.LLAMA3_TIKTOKEN));
        assertEquals(TokenizerFiles.Kind.JSON, kind(SharedVocabs.LLAMA3_JSON));
        assertEquals(TokenizerFiles.Kind.LLAMA2C, kind(SharedVocabs.LLAMA2_BIN));
        assertEquals(TokenizerFiles.Kind.LLAMA2C, kind("models/tok512.bin"));
        // Names do not matter: a tiktoken file called tokenizer.json is still tiktoken.
        Path renamed = dir.resolve("tokenizer.json");
        Files.copy(SharedData.file(SharedVocabs.LLAMA3_TIKTOKEN), renamed);
        assertEquals("llama-bpe", TokenizerFiles.load(renamed).pre());
    }

    @Test
    void aDirectoryStandsForItsTokenizerFile() throws IOException {
        Files.copy(SharedData.file(SharedVocabs.LLAMA2_MODEL), dir.resolve("tokenizer.model"));
        assertEquals(32000, TokenizerFiles.load(dir).vocabSize());
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertOneLineError(empty, () -> TokenizerFiles.load(empty), "directory");
    }

    @Test
    void tok512ThroughTheGenericLoader() {
        TokenizerSpec spec = TokenizerFiles.load(SharedData.file("models/tok512.bin"));
        assertEquals(512, spec.vocabSize());
        assertEquals(300, TokenizerFiles.load(SharedData.file("models/tok512.bin"), 300).vocabSize());
        assertEquals(512, TokenizerFiles.load(SharedData.file("models/stories260K.gguf")).vocabSize());
    }

    @Test
    void phi3SpecialTokensSwallowTheWhitespaceAfterThem() {
        TokenizerSpec phi3 = SharedVocabs.spec(SharedVocabs.PHI3);
        int[] flags = phi3.stripFlags();
        assertEquals(TokenizerSpec.STRIP_RIGHT, flags[32010]); // <|user|>
        assertEquals(TokenizerSpec.STRIP_RIGHT, flags[32007]); // <|end|>
        assertEquals(TokenizerSpec.STRIP_RIGHT, flags[2]);     // </s>
        assertEquals(0, flags[0] | flags[1] | flags[32000]);  // <unk>, <s>, <|endoftext|>
        assertNull(SharedVocabs.spec(SharedVocabs.LLAMA_SPM).stripFlags());
        // The ids of Phi-3 chat turns are llama-tokenize's (SpecialTokensReferenceTest). Not in that reference: without
        // parsing special tokens, "</s>" (user-defined) is still cut out, and swallows the spaces after it.
        Tokenizer tokenizer = SharedVocabs.tokenizer(SharedVocabs.PHI3);
        int[] ids = tokenizer.encode("a</s> \t b", false, false);
        assertArrayEquals(tokenizer.encode("a</s>b", false, false), ids);
        assertEquals("</s>", tokenizer.piece(ids[ids.length - 2]));
        assertEquals("▁b", tokenizer.piece(ids[ids.length - 1]));
    }

    @Test
    void tokenizerConfigBesideTheJsonDecidesBosEosAndTemplate() throws IOException {
        Path json = json("tokenizer.json", "[\"a b\"]");
        TokenizerSpec bare = TokenizerFiles.load(json);
        assertEquals(-1, bare.bosId());
        assertFalse(bare.addBos());
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"add_bos_token": true, "add_eos_token": true, "bos_token": {"content": "a"}, "eos_token": "b",
                 "chat_template": "{{ messages }}"}""");
        TokenizerSpec configured = TokenizerFiles.load(json);
        assertEquals(0, configured.bosId());
        assertEquals(1, configured.eosId());
        assertTrue(configured.addBos() && configured.addEos());
        assertEquals("{{ messages }}", configured.chatTemplate());
        assertArrayEquals(new int[] {0, 2, 1}, Tokenizer.from(configured).encode("ab", true, true, false));
    }

    // ------------------------------------------------------------------------------------------ broken files

    @Test
    void missingFile() {
        Path missing = dir.resolve("tokenizer.model");
        assertOneLineError(missing, () -> TokenizerFiles.load(missing), "not found");
    }

    @Test
    void truncatedSentencePieceModel() throws IOException {
        byte[] whole = Files.readAllBytes(SharedData.file(SharedVocabs.LLAMA2_MODEL));
        for (int length : new int[] {1, 3, 100, whole.length / 2, whole.length - 1}) {
            Path cut = dir.resolve("cut" + length + ".model");
            Files.write(cut, Arrays.copyOf(whole, length));
            assertOneLineError(cut, () -> TokenizerFiles.load(cut), "not a SentencePiece model protobuf");
            assertOneLineError(cut, () -> SentencePieceModelLoader.load(cut), "input ended unexpectedly");
        }
    }

    @Test
    void wrongProtobuf() throws IOException {
        // Some other protobuf: field 1 as a varint, field 7 a string.
        Path other = dir.resolve("other.model");
        Files.write(other, new byte[] {0x08, (byte) 0x96, 0x01, 0x3A, 0x03, 'a', 'b', 'c'});
        assertOneLineError(other, () -> TokenizerFiles.load(other), "no pieces");
        // Not protobuf at all.
        Path text = dir.resolve("text.model");
        Files.writeString(text, "\nthis is not a model file\n");
        assertOneLineError(text, () -> SentencePieceModelLoader.load(text), "not a SentencePiece model protobuf");
        // A tiktoken file is not a ModelProto.
        Path tiktoken = SharedData.file(SharedVocabs.LLAMA3_TIKTOKEN);
        assertOneLineError(tiktoken, () -> SentencePieceModelLoader.load(tiktoken), "not a SentencePiece model protobuf");
    }

    @Test
    void unigramModelsAreNotSupported() throws IOException {
        ModelProto llama2 = ModelProto.parseFrom(Files.readAllBytes(SharedData.file(SharedVocabs.LLAMA2_MODEL)));
        ModelProto unigram = llama2.toBuilder()
                .setTrainerSpec(TrainerSpec.newBuilder(llama2.getTrainerSpec()).setModelType(1)).build();
        Path file = dir.resolve("unigram.model");
        Files.write(file, unigram.toByteArray());
        assertOneLineError(file, () -> TokenizerFiles.load(file), "UNIGRAM is not supported");
        // And a piece of an unknown type.
        ModelProto badType = llama2.toBuilder().setPieces(5, llama2.getPieces(5).toBuilder().setType(9)).build();
        Path bad = dir.resolve("badtype.model");
        Files.write(bad, badType.toByteArray());
        assertOneLineError(bad, () -> TokenizerFiles.load(bad), "piece 5 has type 9");
    }

    @Test
    void jsonWithMergesNamingUnknownTokens() throws IOException {
        Path unknownPart = json("unknown-part.json", "[\"a b\", \"a q\"]");
        assertOneLineError(unknownPart, () -> TokenizerFiles.load(unknownPart), "merge 1 'a q' names 'q'");
        Path unknownResult = json("unknown-result.json", "[\"b a\"]");
        assertOneLineError(unknownResult, () -> TokenizerFiles.load(unknownResult), "names 'ba'");
        Path pairs = json("pairs.json", "[[\"a\", \"b\"]]");
        assertEquals(java.util.List.of("a b"), TokenizerFiles.load(pairs).merges());
        Path malformedMerge = json("malformed-merge.json", "[42]");
        assertOneLineError(malformedMerge, () -> TokenizerFiles.load(malformedMerge), "merge 0 is 42");
    }

    @Test
    void truncatedOrUnsupportedJson() throws IOException {
        byte[] whole = Files.readAllBytes(SharedData.file(SharedVocabs.LLAMA3_JSON));
        Path cut = dir.resolve("tokenizer.json");
        Files.write(cut, Arrays.copyOf(whole, whole.length / 3));
        assertOneLineError(cut, () -> TokenizerFiles.load(cut), "not valid JSON at line");
        Path wordPiece = dir.resolve("wordpiece.json");
        Files.writeString(wordPiece, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
        assertOneLineError(wordPiece, () -> TokenizerFiles.load(wordPiece), "model type 'WordPiece'");
        Path noModel = dir.resolve("nomodel.json");
        Files.writeString(noModel, "{\"version\": \"1.0\"}");
        assertOneLineError(noModel, () -> TokenizerFiles.load(noModel), "no \"model\"");
        String llama3 = new String(whole, StandardCharsets.UTF_8);
        Path otherPattern = dir.resolve("pattern.json");
        Files.writeString(otherPattern, llama3.replace("\\\\p{N}{1,3}", "\\\\p{N}{1,4}"));
        assertOneLineError(otherPattern, () -> TokenizerFiles.load(otherPattern), "pattern");
    }

    @Test
    void brokenTiktokenFiles() throws IOException {
        Path badBase64 = dir.resolve("bad-base64.model");
        Files.writeString(badBase64, "IQ== 0\nIg== 1\n!!not-base64!! 2\n");
        assertOneLineError(badBase64, () -> TokenizerFiles.load(badBase64), "line 3: bad base64");
        Path gap = dir.resolve("gap.model");
        Files.writeString(gap, "IQ== 0\nIg== 5\n");
        assertOneLineError(gap, () -> TokenizerFiles.load(gap), "line 2 has rank 5 (expected 1");
        Path repeated = dir.resolve("repeated.model");
        Files.writeString(repeated, "IQ== 0\nIQ== 1\n");
        assertOneLineError(repeated, () -> TokenizerFiles.load(repeated), "repeats the token of rank 0");
        byte[] whole = Files.readAllBytes(SharedData.file(SharedVocabs.LLAMA3_TIKTOKEN));
        Path cut = dir.resolve("cut.model");
        Files.write(cut, Arrays.copyOf(whole, whole.length / 2 + 3));
        assertOneLineError(cut, () -> TokenizerFiles.load(cut), "is not 'base64 rank'");
    }

    @Test
    void tinyTiktokenFileWorks() throws IOException {
        // "a" "b" "ab": the merge "a b" is derived; 256 special tokens follow.
        Path file = dir.resolve("tiny.model");
        Files.writeString(file, "YQ== 0\nYg== 1\nYWI= 2\n");
        TokenizerSpec spec = TokenizerFiles.load(file);
        assertEquals(java.util.List.of("a b"), spec.merges());
        assertEquals(3 + 256, spec.vocabSize());
        assertEquals("<|begin_of_text|>", spec.tokens()[3]);
        Tokenizer tokenizer = Tokenizer.from(spec);
        assertArrayEquals(new int[] {3, 2, 2, 0}, tokenizer.encode("ababa", true, false));
    }

    // ------------------------------------------------------------------------------------------ helpers

    private static TokenizerFiles.Kind kind(String relative) throws IOException {
        Path file = SharedData.file(relative);
        byte[] head;
        try (var in = Files.newInputStream(file)) {
            head = in.readNBytes(1024);
        }
        return TokenizerFiles.kindOf(file, head);
    }

    /** A byte-level tokenizer.json with tokens a, b, ab and the given merges. */
    private Path json(String name, String merges) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, """
                {"version": "1.0", "added_tokens": [], "normalizer": null,
                 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                                   "use_regex": true},
                 "decoder": {"type": "ByteLevel"},
                 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": %s}}
                """.formatted(merges));
        return file;
    }

    private static void assertOneLineError(Path file, Executable load, String expected) {
        assertFalse(expected.isBlank(), "a fragment of the expected message");
        TokenizerException e = assertThrows(TokenizerException.class, load);
        String message = e.getMessage();
        assertTrue(message.contains(file.toString()), "names the file: " + message);
        assertTrue(message.contains(expected), "says '" + expected + "': " + message);
        assertFalse(message.contains("\n"), "one line: " + message);
    }
}
