package dev.jllm;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/** The read-only test data at {@code ../shared} beside the project; a missing file fails the test, never skips it. */
public final class SharedTestData {

    private SharedTestData() {
    }

    public static Path dir() {
        Path dir = Path.of(System.getProperty("user.dir")).resolve(Path.of("..", "shared")).normalize();
        if (!Files.isDirectory(dir)) {
            fail("test data directory " + dir + " is missing (expected ../shared beside the project directory)");
        }
        return dir;
    }

    /** A file under {@code ../shared}, e.g. {@code models/stories260K-f32.gguf}. */
    public static Path file(String relative) {
        Path file = dir().resolve(relative);
        if (!Files.isRegularFile(file)) {
            fail("test data file " + file + " is missing");
        }
        return file;
    }
}
