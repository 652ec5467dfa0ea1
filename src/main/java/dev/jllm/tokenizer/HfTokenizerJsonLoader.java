package dev.jllm.tokenizer;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} whose model is BPE, in either of the two styles LLaMA-family models
 * ship:
 * <ul>
 * <li><b>SentencePiece style</b> (Llama 2, TinyLlama, Mistral): {@code byte_fallback}, spaces replaced by {@code '▁'}
 *     (normalizer Prepend/Replace, or a Metaspace pre-tokenizer); pieces {@code <0xNN>} are byte tokens, and merges
 *     are applied by rank. Becomes a {@code llama} spec.</li>
 * <li><b>Byte-level</b> (Llama 3, GPT-2): a ByteLevel pre-tokenizer, alone (GPT-2's pattern) or after a Split with the
 *     Llama 3 pattern; {@code ignore_merges} as the model says. Becomes a {@code gpt2} spec with pre-tokenizer
 *     {@code gpt-2} or {@code llama-bpe}.</li>
 * </ul>
 * Added tokens are control tokens when {@code special}, user-defined otherwise, with their {@code lstrip}/
 * {@code rstrip}. BOS comes from the post-processor's template (and then is added by default). A
 * {@code tokenizer_config.json} beside the file, when present, overrides BOS/EOS and whether they are added, and
 * gives the chat template.
 */
public final class HfTokenizerJsonLoader {

    static final String LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
            + " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final ObjectMapper JSON = new ObjectMapper();

    private HfTokenizerJsonLoader() {
    }

    public static TokenizerSpec load(Path file) {
        JsonNode root = readJson(file);
        if (!root.isObject()) {
            throw malformed(file, "not a tokenizer.json object");
        }
        JsonNode model = root.path("model");
        if (!model.isObject()) {
            throw malformed(file, "no \"model\" object (not a Hugging Face tokenizer.json?)");
        }
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw malformed(file, "model type '" + type + "' is not supported (only BPE)");
        }
        if (model.hasNonNull("continuing_subword_prefix") || model.hasNonNull("end_of_word_suffix")) {
            throw malformed(file, "BPE with continuing_subword_prefix or end_of_word_suffix is not supported");
        }

        // Tokens: the vocabulary, then the added tokens (which may also be in it).
        JsonNode vocab = model.path("vocab");
        if (!vocab.isObject() || vocab.isEmpty()) {
            throw malformed(file, "model.vocab is missing or empty");
        }
        Map<Integer, String> texts = new HashMap<>();
        int maxId = -1;
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            int id = tokenId(file, entry.getValue(), "model.vocab['" + entry.getKey() + "']");
            if (texts.put(id, entry.getKey()) != null) {
                throw malformed(file, "model.vocab gives id " + id + " to two tokens");
            }
            maxId = Math.max(maxId, id);
        }
        record Added(int id, String content, boolean special, boolean lstrip, boolean rstrip) {
        }
        List<Added> added = new ArrayList<>();
        JsonNode addedTokens = root.path("added_tokens");
        if (!addedTokens.isMissingNode() && !addedTokens.isNull() && !addedTokens.isArray()) {
            throw malformed(file, "added_tokens is not an array");
        }
        for (JsonNode token : addedTokens) {
            JsonNode content = token.path("content");
            if (!content.isTextual() || content.asText().isEmpty()) {
                throw malformed(file, "an added token has no content");
            }
            int id = tokenId(file, token.path("id"), "added token '" + content.asText() + "'");
            added.add(new Added(id, content.asText(), token.path("special").asBoolean(false),
                    token.path("lstrip").asBoolean(false), token.path("rstrip").asBoolean(false)));
            texts.put(id, content.asText());
            maxId = Math.max(maxId, id);
        }
        int size = maxId + 1;
        // Gaps get placeholders (below); a few are normal, but an id far past the tokens listed would make the
        // arrays and placeholders many times the size of the file.
        if (size - texts.size() > texts.size() + 1024) {
            throw malformed(file, "ids run up to " + maxId + " but only " + texts.size()
                    + " tokens are given (expected ids without large gaps)");
        }
        String[] tokens = new String[size];
        int[] types = new int[size];
        for (int id = 0; id < size; id++) {
            String text = texts.get(id);
            // Ids the file leaves out get a placeholder, as llama.cpp's converter writes them.
            tokens[id] = text != null ? text : "[PAD" + id + "]";
            types[id] = text != null ? TokenizerSpec.TYPE_NORMAL : TokenizerSpec.TYPE_UNUSED;
        }
        Map<String, Integer> idsByText = new HashMap<>();
        for (int id = 0; id < size; id++) {
            idsByText.put(tokens[id], id);
        }

        List<String> merges = merges(file, model.path("merges"));
        try {
            new MergeTable(merges, idsByText);
        } catch (TokenizerException e) {
            throw malformed(file, e.getMessage());
        }

        boolean byteFallback = model.path("byte_fallback").asBoolean(false);
        String unkToken = model.path("unk_token").isTextual() ? model.path("unk_token").asText() : null;
        int unkId = unkToken != null && idsByText.containsKey(unkToken) ? idsByText.get(unkToken) : -1;
        if (byteFallback) {
            for (int id = 0; id < size; id++) {
                if (isByteToken(tokens[id])) {
                    types[id] = TokenizerSpec.TYPE_BYTE;
                }
            }
            if (unkId >= 0) {
                types[unkId] = TokenizerSpec.TYPE_UNKNOWN;
            }
        }
        int[] strip = new int[size];
        boolean anyStrip = false;
        for (Added a : added) {
            types[a.id] = a.special ? TokenizerSpec.TYPE_CONTROL : TokenizerSpec.TYPE_USER_DEFINED;
            if (a.id == unkId) {
                types[a.id] = TokenizerSpec.TYPE_UNKNOWN;
            }
            strip[a.id] = (a.lstrip ? TokenizerSpec.STRIP_LEFT : 0) | (a.rstrip ? TokenizerSpec.STRIP_RIGHT : 0);
            anyStrip |= strip[a.id] != 0;
        }

        // BOS from the post-processor's template; EOS by its usual names. tokenizer_config.json may say otherwise.
        String bosText = templateBos(root.path("post_processor"));
        boolean addBos = bosText != null;
        boolean addEos = false;
        String eosText = null;
        String chatTemplate = null;
        JsonNode config = readConfig(file);
        if (config != null) {
            bosText = specialText(config.path("bos_token"), bosText);
            eosText = specialText(config.path("eos_token"), null);
            addBos = config.path("add_bos_token").asBoolean(addBos);
            addEos = config.path("add_eos_token").asBoolean(false);
            chatTemplate = config.path("chat_template").isTextual() ? config.path("chat_template").asText() : null;
        }
        if (bosText == null) {
            bosText = firstPresent(idsByText, "<|begin_of_text|>", "<s>");
        }
        if (eosText == null) {
            eosText = firstPresent(idsByText, "<|end_of_text|>", "</s>", "<|endoftext|>");
        }
        int bosId = bosText != null && idsByText.containsKey(bosText) ? idsByText.get(bosText) : -1;
        int eosId = eosText != null && idsByText.containsKey(eosText) ? idsByText.get(eosText) : -1;
        if (addBos && bosId < 0) {
            addBos = false;
        }
        int[] stripFlags = anyStrip ? strip : null;

        if (byteFallback) {
            boolean spacePrefix = sentencePieceSpacePrefix(file, root);
            return new TokenizerSpec("llama", null, tokens, null, types, merges, bosId, eosId, unkId, -1,
                    addBos, addEos, spacePrefix, chatTemplate, false, stripFlags);
        }
        if (!root.path("normalizer").isNull() && !root.path("normalizer").isMissingNode()) {
            throw malformed(file, "a normalizer (" + root.path("normalizer").path("type").asText("?")
                    + ") with byte-level BPE is not supported");
        }
        String pre = byteLevelPreTokenizer(file, root.path("pre_tokenizer"));
        return new TokenizerSpec("gpt2", pre, tokens, null, types, merges, bosId, eosId, -1, -1,
                addBos, addEos, false, chatTemplate, model.path("ignore_merges").asBoolean(false), stripFlags);
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(TokenizerFiles.readAll(file));
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at != null ? " at line " + at.getLineNr() + ", column " + at.getColumnNr() : "";
            throw malformed(file, "not valid JSON" + where + " (" + oneLine(e.getOriginalMessage()) + ")");
        } catch (IOException e) {
            throw malformed(file, "cannot read it (" + oneLine(e.getMessage()) + ")");
        }
    }

    private static JsonNode readConfig(Path file) {
        Path config = file.toAbsolutePath().resolveSibling("tokenizer_config.json");
        if (!Files.isRegularFile(config)) {
            return null;
        }
        JsonNode node = readJson(config);
        return node.isObject() ? node : null;
    }

    private static String oneLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        String line = message.replace('\n', ' ').replace('\r', ' ').strip();
        return line.length() > 160 ? line.substring(0, 160) + "..." : line;
    }

    private static int tokenId(Path file, JsonNode node, String what) {
        if (!node.canConvertToInt() || !node.isIntegralNumber() || node.asInt() < 0) {
            throw malformed(file, what + " has id " + node + " (expected a non-negative integer)");
        }
        return node.asInt();
    }

    private static List<String> merges(Path file, JsonNode node) {
        if (!node.isArray()) {
            throw malformed(file, "model.merges is missing (expected an array)");
        }
        List<String> merges = new ArrayList<>(node.size());
        int rank = 0;
        for (JsonNode merge : node) {
            if (merge.isTextual()) {
                merges.add(merge.asText());
            } else if (merge.isArray() && merge.size() == 2 && merge.get(0).isTextual() && merge.get(1).isTextual()) {
                String left = merge.get(0).asText();
                String right = merge.get(1).asText();
                if (left.isEmpty() || right.isEmpty() || left.indexOf(' ') >= 0 || right.indexOf(' ') >= 0) {
                    throw malformed(file, "merge " + rank + " " + merge + " has an empty part or a part with a space");
                }
                merges.add(left + " " + right);
            } else {
                throw malformed(file, "merge " + rank + " is " + merge + " (expected \"a b\" or [\"a\", \"b\"])");
            }
            rank++;
        }
        return merges;
    }

    private static boolean isByteToken(String text) {
        if (text.length() != 6 || !text.startsWith("<0x") || text.charAt(5) != '>') {
            return false;
        }
        return Character.digit(text.charAt(3), 16) >= 0 && Character.digit(text.charAt(4), 16) >= 0;
    }

    private static String firstPresent(Map<String, Integer> ids, String... texts) {
        for (String text : texts) {
            if (ids.containsKey(text)) {
                return text;
            }
        }
        return null;
    }

    /** A special token as tokenizer_config.json writes it: a string, or an object with "content". */
    private static String specialText(JsonNode node, String fallback) {
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isObject() && node.path("content").isTextual()) {
            return node.path("content").asText();
        }
        return fallback;
    }

    /** The special token a TemplateProcessing post-processor puts first in a single sequence, or null. */
    private static String templateBos(JsonNode processor) {
        if (processor.isNull() || processor.isMissingNode()) {
            return null;
        }
        String type = processor.path("type").asText("");
        if (type.equals("Sequence")) {
            for (JsonNode inner : processor.path("processors")) {
                String bos = templateBos(inner);
                if (bos != null) {
                    return bos;
                }
            }
            return null;
        }
        if (!type.equals("TemplateProcessing")) {
            return null;
        }
        JsonNode first = processor.path("single").path(0);
        JsonNode special = first.path("SpecialToken");
        if (!special.isObject()) {
            return null;
        }
        String name = special.path("id").asText(null);
        JsonNode ids = processor.path("special_tokens").path(name).path("tokens");
        return ids.isArray() && ids.size() == 1 ? ids.get(0).asText() : name;
    }

    /** Whether a SentencePiece-style file prefixes a space; fails if it does not turn spaces into '▁' at all. */
    private static boolean sentencePieceSpacePrefix(Path file, JsonNode root) {
        boolean replacesSpaces = false;
        boolean prepends = false;
        for (JsonNode step : flatten(root.path("normalizer"), "normalizers")) {
            switch (step.path("type").asText("")) {
                case "Prepend" -> prepends |= step.path("prepend").asText("").equals("▁");
                case "Replace" -> replacesSpaces |= step.path("pattern").path("String").asText("").equals(" ")
                        && step.path("content").asText("").equals("▁");
                default -> throw malformed(file, "normalizer " + step.path("type").asText("?")
                        + " is not supported in a SentencePiece-style tokenizer.json");
            }
        }
        for (JsonNode step : flatten(root.path("pre_tokenizer"), "pretokenizers")) {
            if (!step.path("type").asText("").equals("Metaspace")) {
                throw malformed(file, "pre_tokenizer " + step.path("type").asText("?")
                        + " is not supported in a SentencePiece-style tokenizer.json");
            }
            replacesSpaces = true;
            String scheme = step.path("prepend_scheme").asText(
                    step.path("add_prefix_space").asBoolean(true) ? "always" : "never");
            prepends |= !scheme.equals("never");
        }
        if (!replacesSpaces) {
            throw malformed(file, "byte_fallback BPE that does not turn spaces into '▁' is not supported");
        }
        return prepends;
    }

    /** The byte-level pre-tokenizer's name in GGUF terms. */
    private static String byteLevelPreTokenizer(Path file, JsonNode node) {
        List<JsonNode> steps = flatten(node, "pretokenizers");
        String split = null;
        boolean byteLevel = false;
        boolean byteLevelRegex = false;
        for (JsonNode step : steps) {
            switch (step.path("type").asText("")) {
                case "Split" -> {
                    String pattern = step.path("pattern").path("Regex").asText(null);
                    String behavior = step.path("behavior").asText("");
                    if (split != null || pattern == null || !behavior.equals("Isolated")
                            || step.path("invert").asBoolean(false)) {
                        throw malformed(file, "pre_tokenizer Split " + step.path("pattern") + " " + behavior
                                + " is not supported");
                    }
                    split = pattern;
                }
                case "ByteLevel" -> {
                    if (step.path("add_prefix_space").asBoolean(false)) {
                        throw malformed(file, "pre_tokenizer ByteLevel with add_prefix_space is not supported");
                    }
                    byteLevel = true;
                    byteLevelRegex = step.path("use_regex").asBoolean(true);
                }
                default -> throw malformed(file, "pre_tokenizer " + step.path("type").asText("?")
                        + " is not supported with byte-level BPE");
            }
        }
        if (!byteLevel) {
            throw malformed(file, "BPE without byte_fallback and without a ByteLevel pre_tokenizer is not supported");
        }
        if (split == null && byteLevelRegex) {
            return "gpt-2";
        }
        if (split != null && !byteLevelRegex) {
            if (split.equals(LLAMA3_PATTERN)) {
                return "llama-bpe";
            }
            if (split.equals(GPT2_PATTERN)) {
                return "gpt-2";
            }
        }
        throw malformed(file, "pre_tokenizer pattern " + (split != null ? "'" + split + "' " : "")
                + "is not supported (supported: the Llama 3 and GPT-2 patterns)");
    }

    /** A step, or the steps of a Sequence; nothing for null. */
    private static List<JsonNode> flatten(JsonNode node, String listName) {
        List<JsonNode> steps = new ArrayList<>();
        if (node.isNull() || node.isMissingNode()) {
            return steps;
        }
        if (node.path("type").asText("").equals("Sequence")) {
            for (JsonNode inner : node.path(listName)) {
                steps.addAll(flatten(inner, listName));
            }
        } else {
            steps.add(node);
        }
        return steps;
    }

    private static TokenizerException malformed(Path file, String problem) {
        return new TokenizerException("tokenizer file " + file + ": " + problem);
    }
}
