package dev.jllm.chat;

import java.util.Objects;

/**
 * One message of a conversation.
 *
 * @param role    {@code system}, {@code user} or {@code assistant} (templates may know others, such as {@code tool})
 * @param content the text
 */
public record Message(String role, String content) {

    public static final String SYSTEM = "system";
    public static final String USER = "user";
    public static final String ASSISTANT = "assistant";

    public Message {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    public static Message system(String content) {
        return new Message(SYSTEM, content);
    }

    public static Message user(String content) {
        return new Message(USER, content);
    }

    public static Message assistant(String content) {
        return new Message(ASSISTANT, content);
    }
}
