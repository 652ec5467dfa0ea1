package dev.jllm.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.io.OutputFiles;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a {@link TokenizerSpec} as a Hugging Face {@code tokenizer.json} and {@code tokenizer_config.json} that
 * {@link HfTokenizerJsonLoader} (and the tokenizers library) read back as the same tokenizer: a SentencePiece
 * vocabulary in the SentencePiece style (byte fallback, spaces as '▁'), a byte-level one as GPT-2/Llama 3 BPE.
 * A SentencePiece vocabulary without merges gets merges derived from its scores, as Hugging Face's converter does:
 * every split of a piece into two pieces of the vocabulary, ranked by the score of the merged piece.
 */
public final class HfTokenizerJsonWriter {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HfTokenizerJsonWriter() {
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} as new files into {@code dir}. */
    public static void write(TokenizerSpec spec, Path dir) throws IOException {
        boolean sentencePiece = spec.model().equals("llama");
        if (!sentencePiece && !spec.model().equals("gpt2")) {
            throw new TokenizerException("cannot write tokenizer model '" + spec.model() + "' as tokenizer.json");
        }
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        String[] tokens = spec.tokens();
        int[] types = spec.tokenTypes();
        for (int id = 0; id < tokens.length; id++) {
            int type = types == null ? TokenizerSpec.TYPE_NORMAL : types[id];
            boolean control = type == TokenizerSpec.TYPE_CONTROL || (sentencePiece && type == TokenizerSpec.TYPE_UNKNOWN);
            if (control || type == TokenizerSpec.TYPE_USER_DEFINED) {
                int strip = spec.stripFlags() == null ? 0 : spec.stripFlags()[id];
                ObjectNode a = added.addObject();
                a.put("id", id);
                a.put("content", tokens[id]);
                a.put("single_word", false);
                a.put("lstrip", (strip & TokenizerSpec.STRIP_LEFT) != 0);
                a.put("rstrip", (strip & TokenizerSpec.STRIP_RIGHT) != 0);
                a.put("normalized", !control);
                a.put("special", control);
            }
        }
        if (sentencePiece) {
            ArrayNode steps = root.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
            if (spec.addSpacePrefix()) {
                steps.addObject().put("type", "Prepend").put("prepend", "▁");
            }
            ObjectNode replace = steps.addObject().put("type", "Replace");
            replace.putObject("pattern").put("String", " ");
            replace.put("content", "▁");
            root.putNull("pre_tokenizer");
        } else {
            root.putNull("normalizer");
            ObjectNode pre = root.putObject("pre_tokenizer");
            if ("gpt-2".equals(spec.pre()) || spec.pre() == null) {
                pre.put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                        .put("use_regex", true);
            } else {
                ArrayNode steps = pre.put("type", "Sequence").putArray("pretokenizers");
                ObjectNode split = steps.addObject().put("type", "Split");
                split.putObject("pattern").put("Regex", HfTokenizerJsonLoader.LLAMA3_PATTERN);
                split.put("behavior", "Isolated").put("invert", false);
                steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                        .put("use_regex", false);
            }
        }
        if (spec.addBos() && spec.bosId() >= 0) {
            String bos = tokens[spec.bosId()];
            ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
            ArrayNode single = post.putArray("single");
            single.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 0);
            single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            ArrayNode pair = post.putArray("pair");
            pair.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 0);
            pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            pair.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 1);
            pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
            ObjectNode special = post.putObject("special_tokens").putObject(bos);
            special.put("id", bos);
            special.putArray("ids").add(spec.bosId());
            special.putArray("tokens").add(bos);
        } else {
            root.putNull("post_processor");
        }
        ObjectNode decoder = root.putObject("decoder");
        if (sentencePiece) {
            ArrayNode steps = decoder.put("type", "Sequence").putArray("decoders");
            ObjectNode replace = steps.addObject().put("type", "Replace");
            replace.putObject("pattern").put("String", "▁");
            replace.put("content", " ");
            steps.addObject().put("type", "ByteFallback");
            steps.addObject().put("type", "Fuse");
            if (spec.addSpacePrefix()) {
                steps.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
            }
        } else {
            decoder.put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                    .put("use_regex", true);
        }
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        if (sentencePiece && spec.unkId() >= 0) {
            model.put("unk_token", tokens[spec.unkId()]);
        } else {
            model.putNull("unk_token");
        }
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", sentencePiece);
        model.put("byte_fallback", sentencePiece);
        model.put("ignore_merges", spec.ignoreMerges());
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < tokens.length; id++) {
            vocab.put(tokens[id], id);
        }
        ArrayNode merges = model.putArray("merges");
        List<String> mergeList = spec.merges() != null ? spec.merges() : mergesFromScores(spec);
        for (String m : mergeList) {
            int space = m.indexOf(' ');
            merges.addArray().add(m.substring(0, space)).add(m.substring(space + 1));
        }
        try (OutputStream out = OutputFiles.createNew(dir, "tokenizer.json")) {
            JSON.writeValue(out, root);
        }

        ObjectNode config = JSON.createObjectNode();
        config.put("add_bos_token", spec.addBos());
        config.put("add_eos_token", spec.addEos());
        if (spec.bosId() >= 0) {
            config.put("bos_token", tokens[spec.bosId()]);
        }
        if (spec.eosId() >= 0) {
            config.put("eos_token", tokens[spec.eosId()]);
        }
        if (spec.unkId() >= 0) {
            config.put("unk_token", tokens[spec.unkId()]);
        }
        if (spec.chatTemplate() != null) {
            config.put("chat_template", spec.chatTemplate());
        }
        config.put("tokenizer_class", sentencePiece ? "LlamaTokenizerFast" : "PreTrainedTokenizerFast");
        try (OutputStream out = OutputFiles.createNew(dir, "tokenizer_config.json")) {
            JSON.writeValue(out, config);
        }
    }

    /** BPE merges for a SentencePiece vocabulary: splits of normal pieces into two pieces, by merged score. */
    static List<String> mergesFromScores(TokenizerSpec spec) {
        String[] tokens = spec.tokens();
        float[] scores = spec.scores();
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < tokens.length; id++) {
            ids.putIfAbsent(tokens[id], id);
        }
        record Merge(String text, float score, int id, int split) {
        }
        List<Merge> found = new ArrayList<>();
        for (int id = 0; id < tokens.length; id++) {
            int type = spec.tokenTypes() == null ? TokenizerSpec.TYPE_NORMAL : spec.tokenTypes()[id];
            String piece = tokens[id];
            if (type != TokenizerSpec.TYPE_NORMAL && type != TokenizerSpec.TYPE_USER_DEFINED) {
                continue;
            }
            for (int at = piece.offsetByCodePoints(0, 1); at < piece.length(); at = piece.offsetByCodePoints(at, 1)) {
                String left = piece.substring(0, at);
                String right = piece.substring(at);
                if (ids.containsKey(left) && ids.containsKey(right)) {
                    found.add(new Merge(left + " " + right, scores == null ? -id : scores[id], id, at));
                }
            }
        }
        found.sort(Comparator.comparingDouble((Merge m) -> -m.score).thenComparingInt(Merge::id)
                .thenComparingInt(Merge::split));
        return found.stream().map(Merge::text).toList();
    }
}
