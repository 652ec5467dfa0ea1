package dev.jllm.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.io.OutputFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A conversation: messages in order, immutable. As JSON it is the list Hugging Face and OpenAI use,
 * {@code [{"role": "user", "content": "Hello!"}, ...]} (an object with a {@code "messages"} list is read too).
 */
public record Conversation(List<Message> messages) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public Conversation {
        messages = List.copyOf(messages);
    }

    public static Conversation empty() {
        return new Conversation(List.of());
    }

    public static Conversation of(Message... messages) {
        return new Conversation(List.of(messages));
    }

    public int size() {
        return messages.size();
    }

    public boolean isEmpty() {
        return messages.isEmpty();
    }

    public Message last() {
        return messages.getLast();
    }

    /** This conversation with one more message. */
    public Conversation with(Message message) {
        List<Message> more = new ArrayList<>(messages);
        more.add(message);
        return new Conversation(more);
    }

    /** The system prompt: the text of a first message whose role is {@code system}. */
    public Optional<String> system() {
        return !messages.isEmpty() && messages.getFirst().role().equals(Message.SYSTEM)
                ? Optional.of(messages.getFirst().content()) : Optional.empty();
    }

    /** This conversation with its system prompt replaced (or added first); null or empty text removes it. */
    public Conversation withSystem(String text) {
        List<Message> rest = new ArrayList<>(system().isPresent() ? messages.subList(1, messages.size()) : messages);
        if (text != null && !text.isEmpty()) {
            rest.addFirst(Message.system(text));
        }
        return new Conversation(rest);
    }

    /**
     * This conversation without its oldest turn: the first message after the system prompt and the answers that follow
     * it, up to the next user message. Empty when there is no turn to drop.
     */
    public Optional<Conversation> withoutOldestTurn() {
        int start = system().isPresent() ? 1 : 0;
        if (start >= messages.size()) {
            return Optional.empty();
        }
        int end = start + 1;
        while (end < messages.size() && !messages.get(end).role().equals(Message.USER)) {
            end++;
        }
        List<Message> kept = new ArrayList<>(messages.subList(0, start));
        kept.addAll(messages.subList(end, messages.size()));
        return Optional.of(new Conversation(kept));
    }

    /** The messages as the maps a template reads ({@code message['role']}, {@code message.content}). */
    public List<Map<String, Object>> toMaps() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            out.add(map);
        }
        return out;
    }

    public String toJson() {
        ArrayNode array = JSON.createArrayNode();
        for (Message m : messages) {
            ObjectNode o = array.addObject();
            o.put("role", m.role());
            o.put("content", m.content());
        }
        try {
            return JSON.writeValueAsString(array) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a conversation; a malformed one fails with a message naming {@code source} and what is wrong. */
    public static Conversation fromJson(String json, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": not JSON (" + e.getOriginalMessage() + ")");
        }
        if (root != null && root.isObject() && root.has("messages")) {
            root = root.get("messages");
        }
        if (root == null || !root.isArray()) {
            throw new IllegalArgumentException(source + ": expected a JSON list of messages"
                    + " [{\"role\": ..., \"content\": ...}, ...]");
        }
        List<Message> messages = new ArrayList<>();
        for (int i = 0; i < root.size(); i++) {
            JsonNode m = root.get(i);
            if (!m.isObject() || !m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw new IllegalArgumentException(source + ": message " + i
                        + " needs a text \"role\" and a text \"content\"");
            }
            messages.add(new Message(m.get("role").asText(), m.get("content").asText()));
        }
        return new Conversation(messages);
    }

    public static Conversation read(Path file) {
        try {
            return fromJson(Files.readString(file, StandardCharsets.UTF_8), file.toString());
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read (" + e.getMessage() + ")");
        }
    }

    /**
     * Writes the conversation as JSON atomically ({@link OutputFiles}): a temporary file beside it, then a rename; a
     * device, a folder or another special file is refused, a symbolic link gets the file it points to replaced.
     */
    public void write(Path file) throws IOException {
        byte[] json = toJson().getBytes(StandardCharsets.UTF_8);
        OutputFiles.writeStream(file, OutputFiles.Links.FOLLOW, out -> out.write(json));
    }
}
