package dev.jllm.jmh;

import dev.jllm.tensor.MatMul;
import dev.jllm.tensor.Parallel;
import dev.jllm.tensor.PreparedActivations;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
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
 * The product the forward pass runs for every weight matrix: {@link MatMul#apply} of a {@code rows x cols} matrix
 * (default tinyllama's FFN gate/up, 5632 x 2048) with a batch of vectors: batch 1 is decoding, batch 32 a slice of
 * prompt processing. Threads as {@code jllm -t} sets them ({@link Parallel#configure}). The matrix is cycled through
 * copies filling {@code footprintMiB}, so each product streams its weights from memory. One op = one product.
 * Kernels named {@code *_REPACKED} run on copies repacked as a model's are at load (the default; the plain names are
 * {@code --no-repack}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class MatVecBenchmark {

    @Param({"F32", "F16", "BF16", "Q8_0", "Q8_0_REPACKED", "Q4_0", "Q4_0_REPACKED", "Q4_1", "Q5_0", "Q5_1"})
    public String kernel;

    @Param({"1", "32"})
    public int batch;

    @Param({"1", "2"})
    public int threads;

    @Param("5632")
    public int rows;

    @Param("2048")
    public int cols;

    /** Total size of the copies cycled through (well past the last-level cache). */
    @Param("256")
    public int footprintMiB;

    private static final int WARM_UP_PRODUCTS = 3000;

    private Arena arena;
    private Tensor[] weights;
    private float[] x;
    private float[] out;
    private PreparedActivations prepared;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        Parallel.configure(threads);
        arena = Arena.ofShared();
        weights = BenchWeights.copies(arena, kernel, rows, cols, footprintMiB, 42);
        x = BenchWeights.activations(cols, batch, 7);
        out = new float[rows * batch];
        prepared = new PreparedActivations();
        long start = System.nanoTime();
        BenchWeights.warmUp(weights[0], 64, batch, WARM_UP_PRODUCTS);
        System.out.printf("(warm-up: %d products of 64 rows in %.1f s)%n", WARM_UP_PRODUCTS,
                (System.nanoTime() - start) * 1e-9);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float[] product() {
        Tensor w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        MatMul.apply(w, x, batch, out, prepared);
        return out;
    }
}
