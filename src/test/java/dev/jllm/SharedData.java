package dev.jllm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The read-only reference data beside the project ({@code ../shared}): models and the outputs of llama.cpp and
 * llama2.c. Tests that need it fail loudly when it is missing; they never skip.
 */
public final class SharedData {

    private static final ObjectMapper JSON = new ObjectMapper();

    private SharedData() {
    }

    public static Path root() {
        Path root = Path.of(System.getProperty("user.dir")).resolve("../shared").normalize();
        if (!Files.isDirectory(root.resolve("golden")) || !Files.isDirectory(root.resolve("models"))) {
            throw new AssertionError("the reference data is missing: expected ../shared (with models/ and golden/) beside"
                    + " the project at " + root);
        }
        return root;
    }

    public static Path model(String name) {
        return existing(root().resolve("models").resolve(name));
    }

    public static Path golden(String name) {
        return existing(root().resolve("golden").resolve(name));
    }

    public static Path file(String relative) {
        return existing(root().resolve(relative));
    }

    public static JsonNode json(Path path) {
        try {
            return JSON.readTree(path.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private static Path existing(Path p) {
        if (!Files.exists(p)) {
            throw new AssertionError("reference file missing: " + p);
        }
        return p;
    }
}
