package dev.jllm.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What a Hugging Face {@code tokenizer_config.json} says about chat: the chat template and the BOS/EOS texts.
 *
 * @param chatTemplate the template source, or null when the file has none
 * @param bosToken     the BOS text ({@code "<s>"}), or null
 * @param eosToken     the EOS text, or null
 */
public record HfTokenizerConfig(String chatTemplate, String bosToken, String eosToken) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Reads {@code tokenizer_config.json}. {@code chat_template} is a string, or a list of {@code {name, template}}
     * (the one named {@code default} is used, else the first); tokens are strings or {@code {"content": ...}} objects.
     */
    public static HfTokenizerConfig read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ChatTemplateException(file.toString(), ChatTemplateException.Kind.SOURCE,
                    "cannot read tokenizer_config.json (" + e.getMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw new ChatTemplateException(file.toString(), ChatTemplateException.Kind.SOURCE, "expected a JSON object");
        }
        return new HfTokenizerConfig(template(root.get("chat_template")), token(root.get("bos_token")),
                token(root.get("eos_token")));
    }

    /**
     * The chat template of a Hugging Face model directory: {@code chat_template.jinja} if present (newer
     * transformers save it apart), else {@code tokenizer_config.json}'s. Empty when neither has one.
     */
    public static Optional<ChatTemplate> templateIn(Path directory) {
        Path jinja = directory.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            return Optional.of(ChatTemplate.read(jinja));
        }
        Path config = directory.resolve("tokenizer_config.json");
        if (Files.isRegularFile(config)) {
            String source = read(config).chatTemplate();
            if (source != null) {
                return Optional.of(ChatTemplate.of(config.toString(), source));
            }
        }
        return Optional.empty();
    }

    private static String template(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isArray()) {
            JsonNode first = null;
            for (JsonNode entry : node) {
                if (entry.path("template").isTextual()) {
                    if ("default".equals(entry.path("name").asText())) {
                        return entry.get("template").asText();
                    }
                    if (first == null) {
                        first = entry.get("template");
                    }
                }
            }
            return first == null ? null : first.asText();
        }
        return null;
    }

    private static String token(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isObject() && node.path("content").isTextual()) {
            return node.get("content").asText();
        }
        return null;
    }
}
