package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The 32-value block types against blocks the test packs itself from random integers and fp16 scales, following
 * ggml's layouts: dequantization must be exact, and the vector dot, the scalar dot and a float64 reference computed
 * from the expected values must agree to float rounding.
 */
class BlockKernelTest {

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int[] ROW_LENGTHS = {32, 32 * 3, 32 * 7, 32 * 33};
    private static final int ROWS = 3;
    private static final double TOLERANCE = 1e-5;

    @FunctionalInterface
    interface Dot {
        float dot(MemorySegment data, long first, int count, float[] x, int xOffset);
    }

    @FunctionalInterface
    interface Dequantize {
        void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset);
    }

    /**
     * Writes one block at {@code offset}; fills {@code expected[e..e+32)} with its values and
     * {@code magnitude[e..e+32)} with |q*d| + |m|, the size of what the dot product adds per element.
     */
    @FunctionalInterface
    interface Packer {
        void pack(Random random, MemorySegment data, long offset, float[] expected, float[] magnitude, int e);
    }

    enum Case {
        Q8_0(GgmlType.Q8_0, Q8_0Kernel::dotScalar, Q8_0Kernel::dequantizeScalar, (r, data, o, expected, mag, e) -> {
            short d = randomHalf(r);
            data.set(SHORT_LE, o, d);
            for (int j = 0; j < 32; j++) {
                int q = r.nextInt(256) - 128;
                data.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) q);
                expected[e + j] = q * Float.float16ToFloat(d);
                mag[e + j] = Math.abs(expected[e + j]);
            }
        }),
        Q4_0(GgmlType.Q4_0, Q4_0Kernel::dotScalar, Q4_0Kernel::dequantizeScalar, (r, data, o, expected, mag, e) -> {
            short d = randomHalf(r);
            data.set(SHORT_LE, o, d);
            int[] q = randomInts(r, 16);
            for (int j = 0; j < 16; j++) {
                data.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) (q[j] | q[j + 16] << 4));
            }
            for (int j = 0; j < 32; j++) {
                expected[e + j] = (q[j] - 8) * Float.float16ToFloat(d);
                mag[e + j] = Math.abs(expected[e + j]);
            }
        }),
        Q4_1(GgmlType.Q4_1, Q4_1Kernel::dotScalar, Q4_1Kernel::dequantizeScalar, (r, data, o, expected, mag, e) -> {
            short d = randomHalf(r);
            short m = randomHalf(r);
            data.set(SHORT_LE, o, d);
            data.set(SHORT_LE, o + 2, m);
            int[] q = randomInts(r, 16);
            for (int j = 0; j < 16; j++) {
                data.set(ValueLayout.JAVA_BYTE, o + 4 + j, (byte) (q[j] | q[j + 16] << 4));
            }
            for (int j = 0; j < 32; j++) {
                float scaled = q[j] * Float.float16ToFloat(d);
                expected[e + j] = scaled + Float.float16ToFloat(m);
                mag[e + j] = Math.abs(scaled) + Math.abs(Float.float16ToFloat(m));
            }
        }),
        Q5_0(GgmlType.Q5_0, Q5_0Kernel::dotScalar, Q5_0Kernel::dequantizeScalar, (r, data, o, expected, mag, e) -> {
            short d = randomHalf(r);
            data.set(SHORT_LE, o, d);
            int[] q = randomInts(r, 32);
            data.set(INT_LE, o + 2, highBits(q));
            for (int j = 0; j < 16; j++) {
                data.set(ValueLayout.JAVA_BYTE, o + 6 + j, (byte) ((q[j] & 15) | (q[j + 16] & 15) << 4));
            }
            for (int j = 0; j < 32; j++) {
                expected[e + j] = (q[j] - 16) * Float.float16ToFloat(d);
                mag[e + j] = Math.abs(expected[e + j]);
            }
        }),
        Q5_1(GgmlType.Q5_1, Q5_1Kernel::dotScalar, Q5_1Kernel::dequantizeScalar, (r, data, o, expected, mag, e) -> {
            short d = randomHalf(r);
            short m = randomHalf(r);
            data.set(SHORT_LE, o, d);
            data.set(SHORT_LE, o + 2, m);
            int[] q = randomInts(r, 32);
            data.set(INT_LE, o + 4, highBits(q));
            for (int j = 0; j < 16; j++) {
                data.set(ValueLayout.JAVA_BYTE, o + 8 + j, (byte) ((q[j] & 15) | (q[j + 16] & 15) << 4));
            }
            for (int j = 0; j < 32; j++) {
                float scaled = q[j] * Float.float16ToFloat(d);
                expected[e + j] = scaled + Float.float16ToFloat(m);
                mag[e + j] = Math.abs(scaled) + Math.abs(Float.float16ToFloat(m));
            }
        });

        final GgmlType type;
        final Dot scalarDot;
        final Dequantize scalarDequantize;
        final Packer packer;

        Case(GgmlType type, Dot scalarDot, Dequantize scalarDequantize, Packer packer) {
            this.type = type;
            this.scalarDot = scalarDot;
            this.scalarDequantize = scalarDequantize;
            this.packer = packer;
        }
    }

    /** Half the time a typical weight scale, otherwise any finite fp16 bit pattern (subnormals and negatives too). */
    static short randomHalf(Random random) {
        if (random.nextBoolean()) {
            return Float.floatToFloat16((float) (random.nextGaussian() * 0.01));
        }
        short bits;
        do {
            bits = (short) random.nextInt(1 << 16);
        } while ((bits & 0x7C00) == 0x7C00);
        return bits;
    }

    /** Random values below 2^bits for a block of 32 ({@code limit} 16: 4-bit, 32: 5-bit). */
    private static int[] randomInts(Random random, int limit) {
        int[] q = new int[32];
        for (int j = 0; j < 32; j++) {
            q[j] = random.nextInt(limit);
        }
        return q;
    }

    private static int highBits(int[] q) {
        int qh = 0;
        for (int j = 0; j < 32; j++) {
            qh |= (q[j] >> 4 & 1) << j;
        }
        return qh;
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void vectorAndScalarAgreeWithFloat64Reference(Case c) {
        long seed = dev.jllm.TestSeeds.seed("BlockKernelTest.vectorAndScalarAgreeWithFloat64Reference");
        Random random = new Random(seed);
        Kernel kernel = c.type.kernel();
        assertSame(Kernels.forType(c.type), kernel);
        for (int round = 0; round < 8; round++) {
            for (int n : ROW_LENGTHS) {
                check(c, kernel, n, random, "seed " + seed + ", round " + round + ", row length " + n);
            }
        }
    }

    private static void check(Case c, Kernel kernel, int n, Random random, String where) {
        int total = n * ROWS;
        int blocks = total / 32;
        try (Arena arena = Arena.ofConfined()) {
            // One byte in, so that no block is aligned: kernels must read unaligned data.
            MemorySegment data = arena.allocate(1L + (long) blocks * c.type.blockBytes).asSlice(1);
            assertTrue(c.type.bytesFor(total) == data.byteSize());
            float[] expected = new float[total];
            float[] magnitude = new float[total];
            for (int b = 0; b < blocks; b++) {
                c.packer.pack(random, data, (long) b * c.type.blockBytes, expected, magnitude, b * 32);
            }

            float[] all = new float[total];
            kernel.dequantize(data, 0, total, all, 0);
            assertArrayEquals(expected, all, c + " dequantize, " + where);
            float[] scalar = new float[total + 5];
            c.scalarDequantize.dequantize(data, 0, total, scalar, 5);
            for (int i = 0; i < total; i++) {
                assertTrue(Float.floatToRawIntBits(expected[i]) == Float.floatToRawIntBits(scalar[i + 5]),
                        c + " scalar dequantize element " + i + ", " + where);
            }

            Tensor tensor = new Tensor("t", c.type, new long[] {n, ROWS}, data);
            for (int row = 0; row < ROWS; row++) {
                int xOffset = random.nextInt(7);
                float[] x = new float[n + 7];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) random.nextGaussian();
                }
                double reference = 0;
                double scale = 0;
                for (int i = 0; i < n; i++) {
                    reference += (double) expected[row * n + i] * x[xOffset + i];
                    scale += (double) magnitude[row * n + i] * Math.abs(x[xOffset + i]);
                }
                double tolerance = TOLERANCE * scale + Float.MIN_NORMAL;
                float vector = tensor.dotRow(row, x, xOffset);
                float plain = c.scalarDot.dot(data, (long) row * n, n, x, xOffset);
                String message = c + " row " + row + ", " + where + ": vector " + vector + ", scalar " + plain
                        + ", reference " + reference + ", tolerance " + tolerance;
                assertTrue(Math.abs(vector - reference) <= tolerance, message);
                assertTrue(Math.abs(plain - reference) <= tolerance, message);

                float[] rowValues = new float[n + 3];
                tensor.dequantizeRow(row, rowValues, 3);
                for (int i = 0; i < n; i++) {
                    assertTrue(Float.floatToRawIntBits(expected[row * n + i]) == Float.floatToRawIntBits(rowValues[3 + i]),
                            c + " dequantizeRow " + row + " element " + i + ", " + where);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void rejectsRangesThatAreNotWholeBlocks(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(4L * c.type.blockBytes);
            float[] x = new float[128];
            Kernel kernel = c.type.kernel();
            assertThrows(IllegalArgumentException.class, () -> kernel.dot(data, 16, 32, x, 0));
            assertThrows(IllegalArgumentException.class, () -> kernel.dot(data, 0, 48, x, 0));
            assertThrows(IllegalArgumentException.class, () -> kernel.dequantize(data, 0, 40, x, 0));
        }
    }
}
