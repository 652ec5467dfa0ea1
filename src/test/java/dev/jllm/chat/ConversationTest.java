package dev.jllm.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConversationTest {

    @Test
    void jsonRoundTripAndAtomicWrite(@TempDir Path dir) throws IOException {
        Conversation c = Conversation.of(Message.system("Be brief."), Message.user("Grüße 🌍\n\"hi\""),
                Message.assistant("  spaced  "));
        Path file = dir.resolve("chat.json");
        c.write(file);
        assertEquals(c, Conversation.read(file));
        c.with(Message.user("more")).write(file);
        assertEquals(4, Conversation.read(file).size());
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary file left behind");
        }
        assertEquals(c, Conversation.fromJson("{\"messages\": " + c.toJson() + "}", "x"));
    }

    @Test
    void malformedJsonNamesTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("bad.json");
        Files.writeString(file, "[{\"role\": \"user\"}]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Conversation.read(file));
        assertTrue(e.getMessage().startsWith(file.toString()) && e.getMessage().contains("content"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Conversation.read(dir.resolve("missing.json")));
    }

    @Test
    void systemPromptAndDroppingTheOldestTurn() {
        Conversation c = Conversation.of(Message.user("1"), Message.assistant("a"), Message.user("2"),
                Message.assistant("b"), Message.user("3")).withSystem("S");
        assertEquals(Optional.of("S"), c.system());
        assertEquals(List.of(Message.system("S"), Message.user("2"), Message.assistant("b"), Message.user("3")),
                c.withoutOldestTurn().orElseThrow().messages());
        assertEquals(List.of(Message.user("1"), Message.assistant("a"), Message.user("2"), Message.assistant("b"),
                Message.user("3")), c.withSystem(null).messages());
        assertEquals(List.of(Message.system("T"), Message.user("1")),
                Conversation.of(Message.user("1")).withSystem("T").messages());
        assertEquals(Optional.empty(), Conversation.of(Message.system("S")).withoutOldestTurn());
    }
}
