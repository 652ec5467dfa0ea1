package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The read-only test data in {@code ../shared}; a test that needs it fails if it is missing. */
final class SharedData {

    private SharedData() {
    }

    static Path file(String relative) {
        Path shared = Path.of(System.getProperty("user.dir")).resolve("../shared").normalize();
        Path file = shared.resolve(relative);
        if (!Files.isRegularFile(file)) {
            fail("test data " + file + " is missing: the shared data folder must sit beside the project");
        }
        return file;
    }

    static String text(String relative) {
        try {
            return Files.readString(file(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Ids written as llama-tokenize --ids prints them: {@code [1, 403, 407]}. */
    static int[] bracketedIds(String relative) {
        String text = text(relative).strip();
        if (!text.startsWith("[") || !text.endsWith("]")) {
            fail(relative + " is not a bracketed id list");
        }
        return Arrays.stream(text.substring(1, text.length() - 1).split(","))
                .map(String::strip)
                .mapToInt(Integer::parseInt)
                .toArray();
    }
}
