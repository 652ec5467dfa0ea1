package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.format.gguf.GgufReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * llama.cpp's tokenizer test vectors ({@code test-tokenizer-0}): every {@code *.gguf.inp}/{@code *.gguf.out} pair in
 * {@code ../shared/vocab}, every vector id for id, without BOS and without parsing special tokens; and decoding the
 * ids gives the input back (llama.cpp round-trips all of them too).
 */
class VocabTestVectorsTest {

    @Test
    void theExpectedVocabulariesAreThere() throws IOException {
        List<String> names = vocabFiles().map(p -> p.getFileName().toString()).sorted().toList();
        assertEquals(List.of("ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf",
                "ggml-vocab-llama3-from-tiktoken.gguf", "ggml-vocab-phi-3.gguf"), names);
    }

    @TestFactory
    Stream<DynamicTest> everyVectorOfEveryVocabulary() throws IOException {
        return vocabFiles().sorted().map(file -> DynamicTest.dynamicTest(file.getFileName().toString(), () -> {
            String relative = "vocab/" + file.getFileName();
            Tokenizer tokenizer = Tokenizer.from(GgufReader.readTokenizer(file));
            List<SharedVocabs.Vector> vectors = SharedVocabs.vectors(relative);
            assertEquals(46, vectors.size(), "number of vectors");
            List<String> failures = new ArrayList<>();
            for (SharedVocabs.Vector vector : vectors) {
                int[] actual = tokenizer.encode(vector.text(), false, false);
                if (!Arrays.equals(vector.ids(), actual)) {
                    failures.add(vector + ": expected " + Arrays.toString(vector.ids()) + " got "
                            + Arrays.toString(actual));
                    continue;
                }
                String decoded = tokenizer.decode(actual);
                if (!decoded.equals(vector.text())) {
                    failures.add(vector + " decodes to '" + decoded.replace("\n", "\\n") + "'");
                }
            }
            assertTrue(failures.isEmpty(), file + ":\n" + String.join("\n", failures));
        }));
    }

    private static Stream<Path> vocabFiles() throws IOException {
        Path dir = SharedData.file("vocab/ggml-vocab-llama-spm.gguf").getParent();
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> list = files.filter(p -> p.getFileName().toString().endsWith(".gguf"))
                    .filter(p -> Files.exists(Path.of(p + ".inp")))
                    .toList();
            return list.stream();
        }
    }
}
