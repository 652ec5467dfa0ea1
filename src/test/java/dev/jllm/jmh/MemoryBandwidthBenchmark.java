package dev.jllm.jmh;

import dev.jllm.tensor.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * The machine's memory read bandwidth as Java sees it: a vectorized sum over {@code sizeMiB} of off-heap memory
 * (default 1 GiB, as the C probe in ../shared/golden/README.md), with 1 and 2 threads. One op = one pass.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class MemoryBandwidthBenchmark {

    @Param({"1", "2"})
    public int threads;

    @Param("1024")
    public int sizeMiB;

    private Arena arena;
    private ReadSum probe;

    @Setup(Level.Trial)
    public void setUp() {
        Parallel.configure(threads);
        arena = Arena.ofShared();
        long bytes = (long) sizeMiB << 20;
        MemorySegment data = arena.allocate(bytes, 4096);
        SplittableRandom random = new SplittableRandom(1);
        for (long o = 0; o < bytes; o += 8) {
            data.set(ValueLayout.JAVA_LONG_UNALIGNED, o, random.nextLong()); // every page touched and present
        }
        probe = new ReadSum(data, bytes);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public long readSum() {
        return probe.pass();
    }
}
