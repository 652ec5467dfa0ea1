package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The repacked Q4_K, Q5_K and Q6_K products ({@link Repacking}, {@link RepackedKKernel}) on fresh random data at every
 * run (the seed is in each message; {@code -Djllm.test.seed=N} replays one): row counts that are not multiples of the
 * 32-row group, row lengths that are not multiples of the 4-super-block chunk, batches of 1 to 9 and 37, extreme scales
 * (fp16 maximum, subnormal, zero, negative d and dmin), extreme quants (Q4_K nibbles all 0 or all 15 with scales and
 * minimums 63; Q5_K quants all 0 or 31 likewise; Q6_K quants all -32 or 31 with scales -128 or 127; against activations
 * quantized to +-127) and quants that are all zero after their offset.
 *
 * <p>What must hold, and why:
 * <ul>
 * <li>Bit for bit the kernel's own one-value-at-a-time {@code dotPrepared}, whatever the batch (and so each vector of a
 * batch gives what it gives alone: batch invariance): the integer sums T and M are exact in any order (bounds in {@link
 * RepackedQ4_K}, {@link RepackedQ5_K} and {@link RepackedQ6_K}), and the float steps per super-block are the same.</li>
 * <li>Against the exact value in float64 with the same Q8_K activations, {@code E = sum_k dx_k (d_k T_k - dmin_k M_k)},
 * T and M computed here in longs from the original blocks (decoded by the type's {@link BlockDecoder}, tested against
 * ggml elsewhere). Per super-block a term {@code (float) T * fl(d dx)} has two roundings (T may exceed 2^24; the
 * product), each relative <= u = 2^-24, and the FMA that adds it one more; the error of each FMA carries through the
 * later ones. With N FMAs in all (one per super-block, two with minimums) and S = sum_k (|d dx T_k| + |dmin dx M_k|):
 * |acc - E| <= ((1 + u)^(N+2) - 1) S <= (N + 2) u S (1.001) for the N <= 32 here, plus per step 2^-150 * 2^31 in case
 * fl(d dx) underflows (|T| < 2^31) and 2^-150 for the FMA.</li>
 * <li>Dequantized rows of the repacked copy equal the original's exactly ({@code (d * scale) * q - dmin * min}, the
 * same floats).</li>
 * </ul>
 */
class RepackedKKernelTest {

    private static final double U = 0x1p-24;

    private static long seed() {
        Long replay = Long.getLong("jllm.test.seed");
        return replay != null ? replay : System.nanoTime();
    }

    @Test
    void repackedProductsEqualTheirScalarOrderWhateverTheBatchAndStayWithinTheFloat64Bound() {
        assumeTrue(RepackedKernel.AVAILABLE, "needs AVX-512");
        long seed = seed();
        Random random = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            for (GgmlType type : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K}) {
                for (int rows : new int[] {1, 31, 33, 64, 70}) {
                    for (int cols : new int[] {256, 768, 256 * (5 + random.nextInt(3))}) {
                        for (Extreme extreme : Extreme.values()) {
                            Tensor w = randomMatrix(arena, type, rows, cols, extreme, random);
                            assertTrue(Repacking.applies(w));
                            Tensor r = Repacking.repack(w, arena);
                            int batch = random.nextInt(10) == 0 ? 37 : 1 + random.nextInt(9);
                            float[] x = randomActivations(batch * cols, extreme, random);
                            check(w, r, x, batch, "seed " + seed + ", " + type + " " + rows + "x" + cols + " batch "
                                    + batch + " " + extreme);
                        }
                    }
                }
            }
        }
    }

    @Test
    void repackedRowsDequantizeAsTheOriginal() {
        assumeTrue(RepackedKernel.AVAILABLE, "needs AVX-512");
        long seed = seed();
        Random random = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            for (GgmlType type : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K}) {
                for (Extreme extreme : Extreme.values()) {
                    Tensor w = randomMatrix(arena, type, 45, 768, extreme, random);
                    Tensor r = Repacking.repack(w, arena);
                    float[] expected = w.toFloatArray();
                    float[] actual = r.toFloatArray();
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                                "seed " + seed + ", " + type + " " + extreme + " element " + i);
                    }
                    assertEquals(Repacking.bytes(w), r.byteSize());
                    assertEquals(0, r.data().address() % 64, "64-byte aligned");
                }
            }
        }
    }

    /** What is pushed to its limit in one case. */
    enum Extreme {
        NONE, LARGEST_QUANTS, ZERO_QUANTS, EXTREME_SCALES
    }

    private static void check(Tensor w, Tensor r, float[] x, int batch, String where) {
        int rows = Math.toIntExact(w.rowCount());
        int cols = w.rowLength();
        int supers = cols / 256;
        boolean mins = w.type() != GgmlType.Q6_K;
        BlockDecoder decoder = switch ((GgmlType) w.type()) {
            case Q4_K -> new Q4_KBlocks();
            case Q5_K -> new Q5_KBlocks();
            default -> new Q6_KBlocks();
        };
        UnpackedBlocks u = new UnpackedBlocks().ensure(supers, 256);
        float[] out = new float[rows * batch];
        MatMul.apply(r, x, batch, out, new PreparedActivations());
        PreparedActivations p = new PreparedActivations().prepare(ActivationFormat.Q8_K, x, cols, batch);
        float[][] alone = new float[batch][rows];
        for (int v = 0; v < batch; v++) {
            MatMul.apply(r, java.util.Arrays.copyOfRange(x, v * cols, (v + 1) * cols), 1, alone[v],
                    new PreparedActivations());
        }
        for (int row = 0; row < rows; row++) {
            decoder.unpack(w.data(), (long) row * supers, supers, u);
            for (int v = 0; v < batch; v++) {
                String at = where + ", row " + row + ", vector " + v;
                float got = out[v * rows + row];
                float scalar = r.kernel().dotPrepared(r.data(), (long) row * cols, cols, p, v * cols);
                assertEquals(Float.floatToRawIntBits(scalar), Float.floatToRawIntBits(got), at + ": " + scalar
                        + " (scalar) vs " + got);
                assertEquals(Float.floatToRawIntBits(alone[v][row]), Float.floatToRawIntBits(got), at
                        + ": depends on the batch");
                double exact = 0;
                double magnitude = 0;
                for (int k = 0; k < supers; k++) {
                    long t = 0;
                    long m = 0;
                    for (int g = 0; g < 16; g++) {
                        long isum = 0;
                        for (int i = 16 * g; i < 16 * g + 16; i++) {
                            isum += (long) u.q[256 * k + i] * p.quants()[v * cols + 256 * k + i];
                        }
                        t += u.scales[16 * k + g] * isum;
                        if (mins) {
                            m += u.mins[16 * k + g] * (long) p.groupSums()[(v * cols + 256 * k) / 16 + g];
                        }
                    }
                    double dx = p.scales()[v * supers + k];
                    double term = (double) u.d[k] * dx * t;
                    double minTerm = mins ? (double) u.dmin[k] * dx * m : 0;
                    exact += term - minTerm;
                    magnitude += Math.abs(term) + Math.abs(minTerm);
                }
                int steps = supers * (mins ? 2 : 1);
                double bound = (steps + 2) * U * magnitude * 1.001 + steps * (0x1p-150 * 0x1p31 + 0x1p-150);
                assertTrue(Math.abs(got - exact) <= bound, at + ": " + got + " vs exact " + exact + ", bound " + bound);
            }
        }
    }

    static Tensor randomMatrix(Arena arena, GgmlType type, int rows, int cols, Extreme extreme, Random random) {
        int supers = cols / 256;
        boolean q4 = type == GgmlType.Q4_K;
        boolean q5 = type == GgmlType.Q5_K;
        int blockBytes = type.blockBytes;
        MemorySegment data = arena.allocate((long) rows * supers * blockBytes);
        for (long block = 0; block < (long) rows * supers; block++) {
            long at = block * blockBytes;
            for (int i = 0; i < blockBytes; i++) {
                data.set(ValueLayout.JAVA_BYTE, at + i, (byte) random.nextInt(256));
            }
            boolean high = random.nextBoolean();
            if (q4 || q5) {
                // Q5_K: 32 bytes of fifth bits, then the nibbles
                if (extreme == Extreme.LARGEST_QUANTS) {
                    fill(data, at + 4, 12, (byte) 0xFF); // every scale and minimum 63
                    fill(data, at + 16, blockBytes - 16, (byte) (high ? 0xFF : 0x00));
                } else if (extreme == Extreme.ZERO_QUANTS) {
                    fill(data, at + 16, blockBytes - 16, (byte) 0x00);
                }
                data.set(KernelVectors.SHORT_LE, at, scale(extreme, random));
                data.set(KernelVectors.SHORT_LE, at + 2, scale(extreme, random));
            } else {
                if (extreme == Extreme.LARGEST_QUANTS) {
                    fill(data, at, 192, (byte) (high ? 0xFF : 0x00)); // q - 32 all 31 or all -32
                    fill(data, at + 192, 16, (byte) (random.nextBoolean() ? 0x80 : 0x7F));
                } else if (extreme == Extreme.ZERO_QUANTS) {
                    fill(data, at, 128, (byte) 0x00);
                    fill(data, at + 128, 64, (byte) 0xAA); // high bits 2: q = 32, q - 32 = 0
                }
                data.set(KernelVectors.SHORT_LE, at + 208, scale(extreme, random));
            }
        }
        return new Tensor("w", type, new long[] {cols, rows}, data);
    }

    private static void fill(MemorySegment data, long at, int count, byte value) {
        data.asSlice(at, count).fill(value);
    }

    private static short scale(Extreme extreme, Random random) {
        if (extreme == Extreme.EXTREME_SCALES) {
            return switch (random.nextInt(6)) {
                case 0 -> (short) 0x7BFF; // 65504, the largest half
                case 1 -> (short) 0xFBFF; // -65504
                case 2 -> (short) 0x0001; // the smallest subnormal
                case 3 -> (short) 0x8000; // -0
                case 4 -> (short) 0x03FF; // the largest subnormal
                default -> Float.floatToFloat16((float) random.nextGaussian() * 0.02f);
            };
        }
        return Float.floatToFloat16((float) random.nextGaussian() * 0.02f);
    }

    private static float[] randomActivations(int n, Extreme extreme, Random random) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (extreme) {
                // every value of a 256-block at the same magnitude quantizes to +-127
                case LARGEST_QUANTS -> (i / 256 % 2 == 0 ? 1f : -1f) * 3.5f;
                case EXTREME_SCALES -> (float) random.nextGaussian() * (i / 256 % 3 == 0 ? 1e4f : 1e-3f);
                default -> (float) random.nextGaussian();
            };
        }
        return x;
    }
}
