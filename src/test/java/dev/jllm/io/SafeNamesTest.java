package dev.jllm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** File names from untrusted strings: ordinary names unchanged, anything else one path segment, distinct names apart. */
class SafeNamesTest {

    @Test
    void ordinaryTensorNamesAreUnchanged() {
        for (String name : List.of("blk.0.attn_q.weight", "token_embd.weight", "model.layers.31.mlp.down_proj.weight",
                "rope_freqs.weight", "x-y_z")) {
            assertEquals(name, SafeNames.fileName(name));
        }
    }

    @Test
    void pathsSeparatorsDotsAndControlsCannotLeaveTheFolder() {
        Path dir = Path.of("/out/dump");
        List<String> hostile = List.of("../../escaped_rel", "/tmp/x/victim", "..", ".", "", ".hidden", "a/b", "a\\b",
                "nul\0byte", "esc\u001b[2J", "%2E%2E", "%", "é", "\u202e", "~", "x".repeat(300), "x".repeat(299) + "y");
        Set<String> seen = new HashSet<>();
        for (String name : hostile) {
            String file = SafeNames.fileName(name);
            assertTrue(file.matches("[A-Za-z0-9_%~-][A-Za-z0-9._%~-]*"), name + " -> " + file);
            assertTrue(file.length() <= SafeNames.MAX_CHARS, file);
            Path p = SafeNames.inside(dir, file);
            assertEquals(dir, p.getParent(), name);
            assertTrue(seen.add(file), "two names share " + file);
        }
        assertEquals("%2E.%2F..%2Fescaped_rel", SafeNames.fileName("../../escaped_rel"));
        assertEquals("%252E%252E", SafeNames.fileName("%2E%2E"));
    }

    @Test
    void insideRefusesAnythingButOneName() {
        Path dir = Path.of("/out");
        for (String bad : List.of("..", ".", "", "a/b", "/etc/passwd", "a\\b", "x\0", "x\n")) {
            assertThrows(IllegalArgumentException.class, () -> SafeNames.inside(dir, bad), bad);
        }
        assertEquals(Path.of("/out/ok.json"), SafeNames.inside(dir, "ok.json"));
    }
}
