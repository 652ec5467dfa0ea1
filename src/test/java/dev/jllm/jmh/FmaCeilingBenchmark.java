package dev.jllm.jmh;

import dev.jllm.tensor.Parallel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.DoubleAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The machine's float FMA ceiling as Java sees it, the limit of compute-bound prompt processing: each thread of the
 * {@link Parallel} pool runs {@value #STEPS} steps of 24 independent FMA chains on the widest float vectors (enough
 * chains to cover the FMA latency on two ports, few enough to stay in registers), nothing loaded or stored.
 * One op = {@code threads * STEPS * 24} vector FMAs, {@code threads * STEPS * 24 * lanes * 2} floating-point
 * operations: with 16 lanes and STEPS = 2^20, 805.3 MFLOP per thread, so GFLOP/s = 805.3 * threads / (us per op) *
 * 1000.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class FmaCeilingBenchmark {

    static final int STEPS = 1 << 20;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Floating-point operations of one op per thread. */
    static double flopsPerThread() {
        return (double) STEPS * 24 * F.length() * 2;
    }

    @Param({"1", "2"})
    public int threads;

    private final DoubleAdder total = new DoubleAdder();

    @Setup
    public void setUp() {
        Parallel.configure(threads);
    }

    @Benchmark
    public double fma() {
        total.reset();
        Parallel.forRange(threads, (start, end) -> {
            for (int i = start; i < end; i++) {
                total.add(chains(1f + i * 0x1p-20f));
            }
        });
        return total.sum();
    }

    /** 24 chains {@code a = a * m + c} for {@link #STEPS} steps (m just below 1: no overflow, no subnormals). */
    static double chains(float seed) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f);
        FloatVector c = FloatVector.broadcast(F, 1e-6f);
        FloatVector a0 = FloatVector.broadcast(F, seed), a1 = a0.add(1f), a2 = a0.add(2f), a3 = a0.add(3f);
        FloatVector a4 = a0.add(4f), a5 = a0.add(5f), a6 = a0.add(6f), a7 = a0.add(7f);
        FloatVector a8 = a0.add(8f), a9 = a0.add(9f), a10 = a0.add(10f), a11 = a0.add(11f);
        FloatVector b0 = a0.add(12f), b1 = a0.add(13f), b2 = a0.add(14f), b3 = a0.add(15f);
        FloatVector b4 = a0.add(16f), b5 = a0.add(17f), b6 = a0.add(18f), b7 = a0.add(19f);
        FloatVector b8 = a0.add(20f), b9 = a0.add(21f), b10 = a0.add(22f), b11 = a0.add(23f);
        for (int s = 0; s < STEPS; s++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
            a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
            b0 = b0.fma(m, c); b1 = b1.fma(m, c); b2 = b2.fma(m, c); b3 = b3.fma(m, c);
            b4 = b4.fma(m, c); b5 = b5.fma(m, c); b6 = b6.fma(m, c); b7 = b7.fma(m, c);
            b8 = b8.fma(m, c); b9 = b9.fma(m, c); b10 = b10.fma(m, c); b11 = b11.fma(m, c);
        }
        FloatVector a = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11);
        FloatVector b = b0.add(b1).add(b2).add(b3).add(b4).add(b5).add(b6).add(b7).add(b8).add(b9).add(b10).add(b11);
        return a.add(b).reduceLanes(VectorOperators.ADD);
    }
}
