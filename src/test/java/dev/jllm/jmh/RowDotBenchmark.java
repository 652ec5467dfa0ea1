package dev.jllm.jmh;

import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Kernel;
import dev.jllm.tensor.PreparedActivations;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * The per-row path on one thread: {@link Kernel#dotPrepared} of every row with one prepared vector, as
 * {@link dev.jllm.tensor.MatMul} runs it for kernels without a tiled product (and for reordered rows). Set against
 * {@link MatVecBenchmark} at batch 1, threads 1, it shows what the tiles gain. One op = all rows of one matrix.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class RowDotBenchmark {

    @Param({"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"})
    public String kernel;

    @Param("5632")
    public int rows;

    @Param("2048")
    public int cols;

    @Param("256")
    public int footprintMiB;

    private Arena arena;
    private Tensor[] weights;
    private Kernel dot;
    private float[] out;
    private PreparedActivations prepared;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        weights = BenchWeights.copies(arena, GgmlType.valueOf(kernel), rows, cols, footprintMiB, 42);
        dot = weights[0].kernel().forProduct(cols, rows, 1);
        prepared = new PreparedActivations().prepare(dot.activationFormat(), BenchWeights.activations(cols, 1, 7), cols, 1);
        out = new float[rows];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float[] rows() {
        MemorySegment data = weights[next].data();
        next = next + 1 == weights.length ? 0 : next + 1;
        for (int r = 0; r < rows; r++) {
            out[r] = dot.dotPrepared(data, (long) r * cols, cols, prepared, 0);
        }
        return out;
    }
}
