package dev.jllm.cli;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * The demo model inside the jar: TinyStories 260K (karpathy/tinyllamas, MIT; see stories260K.LICENSE.txt beside it),
 * 1.1 MB of GGUF. Used when a command that runs a model gets neither -m nor -hf, so jllm works on a fresh machine.
 * Read from the jar once into off-heap memory, which the GGUF loader reads as it reads a mapped file: no temporary
 * file, no copy on the Java heap.
 */
final class BundledModel {

    static final String RESOURCE = "/dev/jllm/models/stories260K.gguf";
    /** How the bundled model is named in messages (and {@code ModelFile.path()}). */
    static final Path NAME = Path.of("<bundled>", "stories260K.gguf");
    static final String NOTICE = "using the bundled TinyStories-260K demo model; pass -m FILE or -hf REPO for your own";

    private BundledModel() {
    }

    /** Opens the bundled model after printing the one line that says it is used. */
    static ModelFile open(PrintStream err) {
        err.println("jllm: " + NOTICE);
        Arena arena = Arena.ofShared();
        MemorySegment data;
        try (InputStream in = BundledModel.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the bundled model " + RESOURCE + " is missing from the jar");
            }
            byte[] bytes = in.readAllBytes(); // 1.1 MB, dropped as soon as it is copied off the heap
            data = arena.allocate(bytes.length, 4096);
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        return ModelLoaders.open(NAME, data.asReadOnly(), arena); // closes the arena itself if it fails
    }
}
