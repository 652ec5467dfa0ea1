package dev.jllm;

import com.code_intelligence.jazzer.api.BugDetectors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * What every fuzz target checks (issue 16): a parser given any bytes either returns a result or throws the project's
 * own one-line exception for that family of input. Any other exception, an {@link Error} ({@code OutOfMemoryError},
 * {@code StackOverflowError}), more heap allocated than the input's size allows, or a file touched outside the fuzz
 * directory is a finding. A hang is one too: each target carries a {@code @Timeout}, which Jazzer hands to libFuzzer as
 * {@code -timeout} when fuzzing and JUnit enforces when the corpus is replayed.
 *
 * <p>Heap: the bytes the parsing thread allocates (com.sun.management.ThreadMXBean, an event count, unlike time) bound
 * the parser's peak heap from above, since nothing can be live that was never allocated. The budget is a per-target
 * multiple of the input's size plus {@link #FIXED_ALLOCATION}; an input over budget is parsed a second time and
 * measured again, so that one-time work (class initialisation, call sites linked on first use) does not count.
 */
public final class FuzzContract {

    /** One-time and size-independent work: exception messages, small tables, JSON parser buffers. */
    public static final long FIXED_ALLOCATION = 4L << 20;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static Path directory;

    private FuzzContract() {
    }

    /** The body of a fuzz target: parse the input, use the result. */
    @FunctionalInterface
    public interface Parse {
        void run() throws Exception;
    }

    /**
     * Runs {@code parse} and checks the contract.
     *
     * @param target            names the target in findings
     * @param inputBytes        the size of the input, for the heap budget
     * @param bytesPerInputByte the target's heap budget per input byte (stated and measured in the target)
     * @param own               which exceptions are the project's own answer for this input family
     */
    public static void check(String target, long inputBytes, long bytesPerInputByte, Predicate<Throwable> own,
            Parse parse) {
        long budget = FIXED_ALLOCATION + bytesPerInputByte * inputBytes;
        long allocated = measure(target, own, parse);
        if (allocated > budget) {
            allocated = measure(target, own, parse);
            if (allocated > budget) {
                throw new AssertionError(target + ": allocated " + allocated + " bytes of heap for an input of "
                        + inputBytes + " bytes (budget " + budget + " = " + bytesPerInputByte + " per byte + "
                        + FIXED_ALLOCATION + ")");
            }
        }
    }

    /**
     * {@link #check} with a budget that does not scale with the input: what a chat template may build is bounded by
     * {@code TemplateLimits}, not by the template's length.
     */
    public static void checkWithin(String target, long budget, Predicate<Throwable> own, Parse parse) {
        long allocated = measure(target, own, parse);
        if (allocated > budget) {
            allocated = measure(target, own, parse);
            if (allocated > budget) {
                throw new AssertionError(target + ": allocated " + allocated + " bytes of heap (budget " + budget + ")");
            }
        }
    }

    /**
     * A model file's target: the input is written to {@code name} (in the fuzz directory), recognised by content as
     * {@code ModelLoaders} does, and loaded; a model that loads has a {@linkplain #requireSaneConfig sane config} and
     * tensors inside the file.
     */
    public static void checkModelFile(String target, byte[] input, String name, long bytesPerInputByte,
            Predicate<Throwable> own, Predicate<Path> recognise, java.util.function.Function<Path, dev.jllm.format.ModelFile> load) {
        Path file = write(name, input);
        check(target, input.length, bytesPerInputByte, own, () -> {
            recognise.test(file);
            try (dev.jllm.format.ModelFile model = load.apply(file)) {
                requireSaneConfig(target, model.config());
                model.tensors().values().forEach(t -> t.byteSize());
            }
        });
    }

    /**
     * What every loader's config must satisfy, whatever the format: the forward pass divides, rotates pairs and takes
     * logarithms of these numbers, so a value outside these ranges must have been refused in one line instead.
     */
    public static void requireSaneConfig(String target, dev.jllm.model.LlamaConfig c) {
        boolean sane = c.dim() > 0 && c.layers() > 0 && c.heads() > 0 && c.kvHeads() > 0 && c.hiddenDim() > 0
                && c.vocabSize() > 0 && c.contextLength() > 0 && c.headDim() > 0 && c.heads() % c.kvHeads() == 0
                && c.ropeDim() > 0 && c.ropeDim() % 2 == 0 && c.ropeDim() <= c.headDim()
                && c.ropeTheta() > 0 && Float.isFinite(c.ropeTheta()) && c.rmsEps() > 0 && Float.isFinite(c.rmsEps());
        var s = c.ropeScaling();
        if (s != null) {
            sane &= s.factor() > 0 && Float.isFinite(s.factor()) && s.lowFreqFactor() > 0
                    && Float.isFinite(s.lowFreqFactor()) && s.highFreqFactor() > 0 && Float.isFinite(s.highFreqFactor())
                    && s.originalContextLength() > 0;
        }
        if (!sane) {
            throw new AssertionError(target + ": loaded a config no model can run with: " + c);
        }
    }

    /** Exceptions of these types (and their subtypes). */
    @SafeVarargs
    public static Predicate<Throwable> oneOf(Class<? extends RuntimeException>... types) {
        return t -> Stream.of(types).anyMatch(type -> type.isInstance(t));
    }

    /**
     * Runs part of a target whose failure is also the project's own answer (a tokenizer built from a model file that
     * loaded): such an exception, with a one-line message, ends the part; anything else goes on to {@link #check}.
     */
    public static void attempt(String target, Predicate<Throwable> own, Parse part) throws Exception {
        try {
            part.run();
        } catch (RuntimeException e) {
            if (!own.test(e)) {
                throw e;
            }
            requireOneLine(target, e);
        }
    }

    /**
     * Work whose heap grows with an output the input may rightly make large, not with the input: decoding a few hundred
     * tokens of a tokenizer whose pieces are long builds text of their total length. It is measured apart, held to
     * {@code bytesPerOutputByte} times {@code outputBytes} plus {@link #FIXED_ALLOCATION}, and left out of the
     * surrounding {@link #check}'s count.
     */
    public static void outputWork(String target, long outputBytes, long bytesPerOutputByte, Runnable work) {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        work.run();
        long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
        EXCLUDED.get()[0] += allocated;
        long budget = FIXED_ALLOCATION + bytesPerOutputByte * outputBytes;
        if (allocated > budget) {
            throw new AssertionError(target + ": allocated " + allocated + " bytes of heap for an output of "
                    + outputBytes + " bytes (budget " + budget + " = " + bytesPerOutputByte + " per byte + "
                    + FIXED_ALLOCATION + ")");
        }
    }

    private static final ThreadLocal<long[]> EXCLUDED = ThreadLocal.withInitial(() -> new long[1]);

    private static long measure(String target, Predicate<Throwable> own, Parse parse) {
        EXCLUDED.get()[0] = 0;
        long before = THREADS.getCurrentThreadAllocatedBytes();
        try (var unused = BugDetectors.setFilePathTraversalAllowPath(FuzzContract::insideDirectory)) {
            parse.run();
        } catch (Throwable t) {
            if (!own.test(t)) {
                throw new AssertionError(target + ": " + t.getClass().getName() + " escaped (expected a result or the"
                        + " project's own exception): " + t.getMessage(), t);
            }
            requireOneLine(target, t);
        }
        return THREADS.getCurrentThreadAllocatedBytes() - before - EXCLUDED.get()[0];
    }

    private static void requireOneLine(String target, Throwable t) {
        String message = t.getMessage();
        if (message == null || message.isBlank() || message.contains("\n") || message.contains("\r")) {
            throw new AssertionError(target + ": " + t.getClass().getSimpleName() + " without a one-line message: "
                    + message, t);
        }
    }

    /** The directory fuzz targets write their inputs to (one per JVM, removed when it exits). */
    public static synchronized Path directory() {
        if (directory == null) {
            try {
                directory = Files.createTempDirectory("jllm-fuzz").toRealPath();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path dir = directory;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir)));
        }
        return directory;
    }

    /**
     * Writes {@code data} to {@code name} (a path relative to the fuzz directory; each target uses its own folder, so
     * that one target's files are never beside another's) and returns its path, replacing the previous input.
     */
    public static Path write(String name, byte[] data) {
        try {
            Path file = directory().resolve(name);
            Files.createDirectories(file.getParent());
            return Files.write(file, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean insideDirectory(Path path) {
        Path dir = directory();
        Path absolute = path.toAbsolutePath().normalize();
        return absolute.startsWith(dir) || absolute.startsWith(dir.toAbsolutePath());
    }

    private static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // a temporary directory left behind is not worth failing the run for
        }
    }
}
