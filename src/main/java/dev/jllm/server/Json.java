package dev.jllm.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;

/** The server's one JSON mapper, and reading request bodies into trees with errors a client can act on. */
final class Json {

    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    /** The body as a JSON object, or a 400 that says what is wrong with it. */
    static JsonNode parseObject(byte[] body) {
        if (body.length == 0) {
            throw ApiException.invalid(null, "invalid_json", "the request has no body: expected a JSON object");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.invalid(null, "invalid_json", "the body is not valid JSON: " + e.getOriginalMessage()
                    + " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")");
        } catch (java.io.IOException e) {
            throw ApiException.invalid(null, "invalid_json", "the body cannot be read as JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw ApiException.invalid(null, "invalid_json", "the body must be a JSON object");
        }
        return root;
    }

    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static String string(JsonNode node) {
        return new String(bytes(node), StandardCharsets.UTF_8);
    }
}
