package dev.jllm.jmh;

import dev.jllm.tensor.Parallel;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The same read sum as {@link MemoryBandwidthBenchmark} over a memory-mapped file, as jllm reads its weights: the
 * first {@code sizeMiB} of {@code file} (e.g. a model), or, when no file is given, a temporary file of random bytes
 * written first (so its pages are in the page cache) and deleted afterwards. One op = one pass.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class MappedBandwidthBenchmark {

    @Param({"1", "2"})
    public int threads;

    @Param("1024")
    public int sizeMiB;

    /** The file to map; empty: a temporary one. */
    @Param("")
    public String file;

    private Arena arena;
    private Path temporary;
    private ReadSum probe;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Parallel.configure(threads);
        long bytes = (long) sizeMiB << 20;
        Path path;
        if (file.isEmpty()) {
            temporary = Files.createTempFile("jllm-bandwidth", ".bin");
            temporary.toFile().deleteOnExit();
            writeRandom(temporary, bytes);
            path = temporary;
        } else {
            path = Path.of(file);
        }
        arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            if (channel.size() < bytes) {
                throw new IllegalArgumentException(path + ": " + channel.size() + " bytes, expected at least "
                        + sizeMiB + " MiB (set -p sizeMiB=...)");
            }
            MemorySegment data = channel.map(FileChannel.MapMode.READ_ONLY, 0, bytes, arena);
            data.load(); // the pages are resident before timing, as for a model used a second time
            probe = new ReadSum(data, bytes);
        }
    }

    private static void writeRandom(Path path, long bytes) {
        SplittableRandom random = new SplittableRandom(2);
        byte[] chunk = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(path)) {
            for (long done = 0; done < bytes; done += chunk.length) {
                random.nextBytes(chunk);
                out.write(chunk);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        arena.close();
        if (temporary != null) {
            Files.deleteIfExists(temporary);
        }
    }

    @Benchmark
    public long readSum() {
        return probe.pass();
    }
}
