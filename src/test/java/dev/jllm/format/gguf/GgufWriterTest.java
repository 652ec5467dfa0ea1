package dev.jllm.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** GGUF files written by {@link GgufWriter}, read back by {@link GgufReader} and compared with llama.cpp's files. */
class GgufWriterTest {

    @TempDir
    Path dir;

    private final long seed = System.nanoTime();
    private final Random random = new Random(seed);

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K-f32.gguf", "models/stories260K-q8_0-mixed.gguf",
        "models/stories260K-q4_0-mixed.gguf", "models/llama3-tiny-q8_0.gguf", "models/synth256/synth256-q4_k_m-mixed.gguf",
        "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-llama3-from-tiktoken.gguf", "vocab/ggml-vocab-gpt-2.gguf"})
    void copiesOfLlamaCppFilesAreByteIdentical(String name) throws IOException {
        Path original = SharedData.file(name);
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile file = GgufReader.read(original)) {
            GgufWriter writer = GgufWriter.copyOf(file);
            writer.write(copy, null);
            assertEquals(Files.size(copy), writer.fileSize());
            byte[] expected = Files.readAllBytes(original);
            if (file.tensorInfos().isEmpty()) {
                // gguf-py ends a vocabulary-only file right after the header; ggml's writer (and this one) pads it
                expected = Arrays.copyOf(expected, (expected.length + 31) / 32 * 32);
            }
            assertEquals(-1, Arrays.mismatch(expected, Files.readAllBytes(copy)), "the copy differs from the original");
        }
    }
}
