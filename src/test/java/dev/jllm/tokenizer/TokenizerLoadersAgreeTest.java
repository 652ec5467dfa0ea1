package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files that describe the same vocabulary give the same tokenizer: Llama 2's as GGUF, SentencePiece
 * {@code tokenizer.model}, llama2.c {@code tokenizer.bin} (and a Hugging Face {@code tokenizer.json} converted here the
 * way Hugging Face converts it); Llama 3's as GGUF, Hugging Face {@code tokenizer.json} and Meta's tiktoken
 * {@code tokenizer.model}. Same tokens, same ids for llama.cpp's vectors, {@code ppl_text.txt} and random text.
 */
class TokenizerLoadersAgreeTest {

    @TempDir
    static Path dir;

    // ------------------------------------------------------------------------------------------------- Llama 2

    @Test
    void llama2FilesDescribeTheSameVocabulary() {
        TokenizerSpec gguf = SharedVocabs.spec(SharedVocabs.LLAMA_SPM);
        for (String other : List.of(SharedVocabs.LLAMA2_MODEL, SharedVocabs.LLAMA2_BIN)) {
            TokenizerSpec spec = SharedVocabs.spec(other);
            assertEquals("llama", spec.model(), other);
            assertArrayEquals(gguf.tokens(), spec.tokens(), other);
            assertArrayEquals(gguf.scores(), spec.scores(), other);
            assertArrayEquals(gguf.tokenTypes(), spec.tokenTypes(), other);
            assertEquals(List.of(1, 2, 0), List.of(spec.bosId(), spec.eosId(), spec.unkId()), other);
            assertTrue(spec.addBos() && !spec.addEos() && spec.addSpacePrefix(), other);
        }
    }

    @Test
    void llama2LoadersGiveTheSameIds() throws IOException {
        Path json = writeSentencePieceStyleJson(SharedVocabs.spec(SharedVocabs.LLAMA_SPM));
        TokenizerSpec jsonSpec = TokenizerFiles.load(json);
        assertEquals("llama", jsonSpec.model());
        assertTrue(jsonSpec.addSpacePrefix() && jsonSpec.addBos());
        assertEquals(List.of(1, 2, 0), List.of(jsonSpec.bosId(), jsonSpec.eosId(), jsonSpec.unkId()));
        Map<String, Tokenizer> tokenizers = new java.util.LinkedHashMap<>();
        tokenizers.put("gguf", SharedVocabs.tokenizer(SharedVocabs.LLAMA_SPM));
        tokenizers.put("tokenizer.model", SharedVocabs.tokenizer(SharedVocabs.LLAMA2_MODEL));
        tokenizers.put("tokenizer.bin", SharedVocabs.tokenizer(SharedVocabs.LLAMA2_BIN));
        tokenizers.put("tokenizer.json (merges by rank)", Tokenizer.from(jsonSpec));
        // The newer layout: no normalizer, a Metaspace pre-tokenizer that prepends '▁' to the first word.
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = (ObjectNode) mapper.readTree(json.toFile());
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁")
                .put("prepend_scheme", "first").put("split", false);
        Path metaspace = dir.resolve("metaspace-tokenizer.json");
        mapper.writeValue(metaspace.toFile(), root);
        TokenizerSpec metaspaceSpec = TokenizerFiles.load(metaspace);
        assertTrue(metaspaceSpec.addSpacePrefix());
        tokenizers.put("tokenizer.json (Metaspace)", Tokenizer.from(metaspaceSpec));
        assertAllAgree(tokenizers, SharedVocabs.LLAMA_SPM,
                SharedData.bracketedIds("golden/tokenize_ppl_text_ggml-vocab-llama-spm.txt"));
    }

    /**
     * A Llama 2 style tokenizer.json built from a SentencePiece vocabulary as Hugging Face's converter builds it:
     * every split of a piece into two pieces is a merge, merges ordered by the score of the piece they make.
     */
    static Path writeSentencePieceStyleJson(TokenizerSpec spm) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < 3; id++) {
            added.addObject().put("id", id).put("content", spm.tokens()[id]).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        ObjectNode normalizer = root.putObject("normalizer").put("type", "Sequence");
        ArrayNode steps = normalizer.putArray("normalizers");
        steps.addObject().put("type", "Prepend").put("prepend", "▁");
        ObjectNode replace = steps.addObject().put("type", "Replace");
        replace.putObject("pattern").put("String", " ");
        replace.put("content", "▁");
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        ((ArrayNode) post.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ObjectNode bos = post.putObject("special_tokens").putObject("<s>").put("id", "<s>");
        bos.putArray("ids").add(1);
        bos.putArray("tokens").add("<s>");
        ObjectNode model = root.putObject("model").put("type", "BPE").putNull("dropout").put("unk_token", "<unk>")
                .putNull("continuing_subword_prefix").putNull("end_of_word_suffix").put("fuse_unk", true)
                .put("byte_fallback", true);
        ObjectNode vocab = model.putObject("vocab");
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < spm.vocabSize(); id++) {
            vocab.put(spm.tokens()[id], id);
            ids.put(spm.tokens()[id], id);
        }
        record Merge(String left, String right, float score) {
        }
        List<Merge> merges = new ArrayList<>();
        for (int id = 0; id < spm.vocabSize(); id++) {
            String piece = spm.tokens()[id];
            List<Merge> local = new ArrayList<>();
            for (int split = piece.offsetByCodePoints(0, 1); split < piece.length();
                    split = piece.offsetByCodePoints(split, 1)) {
                String left = piece.substring(0, split);
                String right = piece.substring(split);
                if (ids.containsKey(left) && ids.containsKey(right)) {
                    local.add(new Merge(left, right, spm.scores()[id]));
                }
            }
            local.sort(Comparator.comparingInt((Merge m) -> ids.get(m.left)).thenComparingInt(m -> ids.get(m.right)));
            merges.addAll(local);
        }
        merges.sort(Comparator.comparingDouble((Merge m) -> m.score).reversed()); // stable, as Python's sort
        ArrayNode mergeArray = model.putArray("merges");
        for (Merge merge : merges) {
            mergeArray.add(merge.left + " " + merge.right);
        }
        Path file = dir.resolve("llama2-style-tokenizer.json");
        mapper.writeValue(file.toFile(), root);
        return file;
    }

    // ------------------------------------------------------------------------------------------------- Llama 3

    @Test
    void llama3FilesDescribeTheSameVocabulary() {
        TokenizerSpec gguf = SharedVocabs.spec(SharedVocabs.LLAMA3);
        TokenizerSpec json = SharedVocabs.spec(SharedVocabs.LLAMA3_JSON);
        TokenizerSpec tiktoken = SharedVocabs.spec(SharedVocabs.LLAMA3_TIKTOKEN);
        for (TokenizerSpec spec : List.of(json, tiktoken)) {
            assertEquals("gpt2", spec.model());
            assertEquals("llama-bpe", spec.pre());
            assertTrue(spec.ignoreMerges());
            assertEquals(128256, spec.vocabSize());
            assertArrayEquals(Arrays.copyOf(gguf.tokens(), 128000), Arrays.copyOf(spec.tokens(), 128000));
            assertArrayEquals(gguf.tokenTypes(), spec.tokenTypes());
            // The merges Hugging Face wrote, and those derived here from tiktoken's ranks, are llama.cpp's.
            assertEquals(gguf.merges(), spec.merges());
            assertEquals(List.of(128000, 128001), List.of(spec.bosId(), spec.eosId()));
            assertTrue(spec.addBos() && !spec.addEos() && !spec.addSpacePrefix());
        }
        // The JSON was written from the GGUF; the tiktoken file's special tokens take Meta's Llama 3.1 names.
        assertArrayEquals(gguf.tokens(), json.tokens());
        assertEquals("<|eot_id|>", tiktoken.tokens()[128009]);
        assertEquals("<|eom_id|>", tiktoken.tokens()[128008]);
        assertEquals("<|start_header_id|>", tiktoken.tokens()[128006]);
        assertEquals("<|python_tag|>", tiktoken.tokens()[128010]);
        assertEquals("<|reserved_special_token_2|>", tiktoken.tokens()[128012]);
        assertEquals("<|reserved_special_token_245|>", tiktoken.tokens()[128255]);
        assertNull(tiktoken.stripFlags());
    }

    @Test
    void llama3LoadersGiveTheSameIds() {
        Map<String, Tokenizer> tokenizers = new java.util.LinkedHashMap<>();
        tokenizers.put("gguf", SharedVocabs.tokenizer(SharedVocabs.LLAMA3));
        tokenizers.put("tokenizer.json", SharedVocabs.tokenizer(SharedVocabs.LLAMA3_JSON));
        tokenizers.put("tiktoken tokenizer.model", SharedVocabs.tokenizer(SharedVocabs.LLAMA3_TIKTOKEN));
        assertAllAgree(tokenizers, SharedVocabs.LLAMA3,
                SharedData.bracketedIds("golden/tokenize_ppl_text_ggml-vocab-llama3-from-tiktoken.txt"));
    }

    /**
     * Beyond the ids (llama-tokenize's, checked for all three files by {@link SpecialTokensReferenceTest}): special
     * tokens decode to nothing, render as their own text, and end generation where they end a turn.
     */
    @Test
    void llama3SpecialTokensDecodeToNothingAndEndGeneration() throws IOException {
        SpecialTokensReferenceTest.Case chat = SpecialTokensReferenceTest.cases("llama3").getFirst();
        String text = chat.text();
        assertTrue(text.startsWith("<|begin_of_text|><|start_header_id|>system"), text);
        for (String file : List.of(SharedVocabs.LLAMA3, SharedVocabs.LLAMA3_JSON, SharedVocabs.LLAMA3_TIKTOKEN)) {
            Tokenizer tokenizer = SharedVocabs.tokenizer(file);
            // Without parsing, the text comes back whole; parsed, the special tokens add nothing to it.
            assertEquals(text, tokenizer.decode(Arrays.copyOfRange(chat.plain(), 1, chat.plain().length)), file);
            assertEquals(text.replaceAll("<\\|[a-z_]+\\|>", ""), tokenizer.decode(chat.parsed()), file);
            assertEquals("<|eot_id|>", new String(tokenizer.renderBytes(128009), StandardCharsets.UTF_8), file);
            assertTrue(tokenizer.isEndOfGeneration(128009) && tokenizer.isEndOfGeneration(128001), file);
            assertFalse(tokenizer.isEndOfGeneration(128000) || tokenizer.isEndOfGeneration(chat.parsed()[3]), file);
        }
        // Llama 3.1's end of message, under its tiktoken name.
        assertTrue(SharedVocabs.tokenizer(SharedVocabs.LLAMA3_TIKTOKEN).isEndOfGeneration(128008));
    }

    // ------------------------------------------------------------------------------------------------- GPT-2

    @Test
    void gpt2TokenizerJsonAgreesWithTheGguf() throws IOException {
        TokenizerSpec gguf = SharedVocabs.spec(SharedVocabs.GPT2);
        // GPT-2's tokenizer.json layout: a ByteLevel pre-tokenizer with its own regex, merges as pairs.
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.putArray("added_tokens").addObject().put("id", 50256).put("content", "<|endoftext|>")
                .put("single_word", false).put("lstrip", false).put("rstrip", false).put("normalized", true)
                .put("special", true);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
        root.putObject("decoder").put("type", "ByteLevel");
        ObjectNode model = root.putObject("model").put("type", "BPE").put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < gguf.vocabSize(); id++) {
            vocab.put(gguf.tokens()[id], id);
        }
        ArrayNode merges = model.putArray("merges");
        for (String merge : gguf.merges()) {
            int space = merge.indexOf(' ', 1);
            merges.addArray().add(merge.substring(0, space)).add(merge.substring(space + 1));
        }
        Path file = dir.resolve("gpt2-tokenizer.json");
        mapper.writeValue(file.toFile(), root);
        TokenizerSpec json = TokenizerFiles.load(file);
        assertEquals("gpt-2", json.pre());
        assertFalse(json.ignoreMerges() || json.addBos());
        assertEquals(50256, json.eosId());
        assertEquals(gguf.merges(), json.merges());
        Tokenizer fromJson = Tokenizer.from(json);
        for (SharedVocabs.Vector vector : SharedVocabs.vectors(SharedVocabs.GPT2)) {
            assertArrayEquals(vector.ids(), fromJson.encode(vector.text(), false, false), vector.toString());
        }
    }

    // ------------------------------------------------------------------------------------------------- helpers

    private static void assertAllAgree(Map<String, Tokenizer> tokenizers, String vectorsOf, int[] pplGolden) {
        String ppl = SharedData.text("golden/ppl_text.txt");
        List<String> texts = new ArrayList<>();
        List<int[]> expected = new ArrayList<>();
        for (SharedVocabs.Vector vector : SharedVocabs.vectors(vectorsOf)) {
            texts.add(vector.text());
            expected.add(vector.ids());
        }
        Random random = new Random(7);
        for (int i = 0; i < 200; i++) {
            texts.add(RandomText.mixed(random, 1 + random.nextInt(60)));
            expected.add(null); // no reference: the loaders must agree with each other
        }
        List<String> failures = new ArrayList<>();
        for (Map.Entry<String, Tokenizer> entry : tokenizers.entrySet()) {
            Tokenizer tokenizer = entry.getValue();
            int[] pplIds = tokenizer.encode(ppl, true, true);
            if (!Arrays.equals(pplGolden, pplIds)) {
                failures.add(entry.getKey() + ": ppl_text.txt differs from llama-tokenize's ids");
            }
            Tokenizer first = tokenizers.values().iterator().next();
            for (int i = 0; i < texts.size(); i++) {
                int[] ids = tokenizer.encode(texts.get(i), false, false);
                int[] reference = expected.get(i) != null ? expected.get(i) : first.encode(texts.get(i), false, false);
                if (!Arrays.equals(reference, ids)) {
                    failures.add(entry.getKey() + ": '" + texts.get(i) + "' gives " + Arrays.toString(ids)
                            + ", expected " + Arrays.toString(reference));
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }
}
