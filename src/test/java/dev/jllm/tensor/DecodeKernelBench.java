package dev.jllm.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

/**
 * A quick timing of the decode (one vector) matrix products on the tinyllama-1.1b layer shapes, outside JUnit:
 * {@code java -cp target/classes:target/test-classes --add-modules jdk.incubator.vector
 * dev.jllm.tensor.DecodeKernelBench q4_0 [threads] [layers] [seconds]} ({@code q4_0r}: repacked first, see
 * {@link Repacking}; {@code -Dbatch=N}: N vectors per product). Prints the median and best time of one pass over
 * all the matrices and the weight bytes streamed per second, and the median CPU time of the calling thread (with one
 * thread it does all the work, and a busy machine disturbs that figure less). Random weights (valid fp16 scales); run it
 * under the benchmark lock.
 */
public final class DecodeKernelBench {

    private DecodeKernelBench() {
    }

    public static void main(String[] args) {
        boolean repack = args[0].toLowerCase().endsWith("r");
        GgmlType type = GgmlType.valueOf(args[0].toUpperCase().replaceFirst("R$", ""));
        int batch = Integer.getInteger("batch", 1);
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        int layers = args.length > 2 ? Integer.parseInt(args[2]) : 6;
        double seconds = args.length > 3 ? Double.parseDouble(args[3]) : 10;
        Parallel.configure(threads);
        int[][] shapes = {{2048, 2048}, {2048, 256}, {2048, 256}, {2048, 2048}, {2048, 5632}, {2048, 5632}, {5632, 2048}};
        Random random = new Random(1);
        Arena arena = Arena.ofShared();
        Tensor[] ws = new Tensor[shapes.length * layers];
        long bytes = 0;
        for (int l = 0; l < layers; l++) {
            for (int s = 0; s < shapes.length; s++) {
                int cols = shapes[s][0];
                int rows = shapes[s][1];
                long size = type.bytesFor((long) cols * rows);
                MemorySegment data = arena.allocate(size, 64);
                fill(type, data, random);
                ws[l * shapes.length + s] = new Tensor("w", type, new long[] {cols, rows}, data);
                if (repack) {
                    ws[l * shapes.length + s] = Repacking.repack(ws[l * shapes.length + s], arena);
                }
                bytes += size;
            }
        }
        float[] x = new float[5632 * batch];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] out = new float[5632 * batch];
        long[] times = new long[100000];
        long[] cpu = new long[100000];
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        int n = 0;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        double check = 0;
        while (System.nanoTime() < end && n < times.length) {
            long t0 = System.nanoTime();
            long c0 = mx.getCurrentThreadCpuTime();
            for (Tensor w : ws) {
                MatMul.apply(w, x, batch, out);
                check += out[7];
            }
            cpu[n] = mx.getCurrentThreadCpuTime() - c0;
            times[n++] = System.nanoTime() - t0;
        }
        long[] t = Arrays.copyOf(times, n);
        Arrays.sort(t);
        // the second half of the runs (after warm-up) only
        long[] late = Arrays.copyOfRange(times, n / 2, n);
        Arrays.sort(late);
        double median = late[late.length / 2] / 1e6;
        double best = t[0] / 1e6;
        // CPU time of the calling thread: with one thread it does all the work, and time spent descheduled on a
        // busy machine does not count
        long[] lateCpu = Arrays.copyOfRange(cpu, n / 2, n);
        Arrays.sort(lateCpu);
        double cpuMedian = lateCpu[lateCpu.length / 2] / 1e6;
        System.out.printf("%s threads %d: %.1f MB per pass, %d passes, median %.2f ms (%.1f GB/s), best %.2f ms"
                + " (%.1f GB/s), median CPU time of the calling thread %.2f ms (%.1f GB/s) [%s]%n", type, threads,
                bytes / 1e6, n, median, bytes / median / 1e6, best, bytes / best / 1e6, cpuMedian,
                bytes / cpuMedian / 1e6, check);
    }

    private static void fill(GgmlType type, MemorySegment data, Random random) {
        byte[] b = new byte[(int) Math.min(data.byteSize(), 1 << 20)];
        for (long at = 0; at < data.byteSize(); at += b.length) {
            random.nextBytes(b);
            int len = (int) Math.min(b.length, data.byteSize() - at);
            MemorySegment.copy(b, 0, data, ValueLayout.JAVA_BYTE, at, len);
        }
        short scale = Float.floatToFloat16(0.01f);
        switch (type) {
            case Q4_0, Q8_0 -> {
                for (long at = 0; at < data.byteSize(); at += type.blockBytes) {
                    data.set(KernelVectors.SHORT_LE, at, scale);
                }
            }
            case F16 -> {
                for (long at = 0; at < data.byteSize(); at += 2) {
                    data.set(KernelVectors.SHORT_LE, at, Float.floatToFloat16((float) random.nextGaussian() * 0.02f));
                }
            }
            default -> {
                BlockSamples.Type model = BlockSamples.of(type);
                if (model == null) {
                    throw new IllegalArgumentException("type " + type);
                }
                BlockSamples.fill(model, random, data, Math.toIntExact(data.byteSize() / type.blockBytes));
            }
        }
    }
}
