package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * F32, F16 and BF16: every row length from 1 to 33 (and a few longer), so that vector loops and scalar tails both
 * run; vector dot vs scalar dot vs a float64 reference; exact conversion of every 16-bit pattern.
 */
class FloatKernelTest {

    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int ROWS = 3;
    private static final double TOLERANCE = 1e-5;

    enum Case {
        F32(GgmlType.F32, F32Kernel::dotScalar, null),
        F16(GgmlType.F16, F16Kernel::dotScalar, F16Kernel::dequantizeScalar),
        BF16(GgmlType.BF16, BF16Kernel::dotScalar, BF16Kernel::dequantizeScalar);

        final GgmlType type;
        final BlockKernelTest.Dot scalarDot;
        final BlockKernelTest.Dequantize scalarDequantize;

        Case(GgmlType type, BlockKernelTest.Dot scalarDot, BlockKernelTest.Dequantize scalarDequantize) {
            this.type = type;
            this.scalarDot = scalarDot;
            this.scalarDequantize = scalarDequantize;
        }

        /** Writes a random value at element i and returns the float it stands for. */
        float write(Random random, MemorySegment data, long i) {
            switch (this) {
                case F32 -> {
                    float v = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(7) - 3));
                    data.set(FLOAT_LE, i * 4, v);
                    return v;
                }
                case F16 -> {
                    short bits = BlockKernelTest.randomHalf(random);
                    data.set(SHORT_LE, i * 2, bits);
                    return Float.float16ToFloat(bits);
                }
                default -> {
                    short bits;
                    int kind = random.nextInt(10);
                    if (kind == 0) {
                        bits = (short) (random.nextInt(0x80) | (random.nextBoolean() ? 0x8000 : 0)); // subnormal or zero
                    } else {
                        float v = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(13) - 6));
                        bits = (short) (Float.floatToRawIntBits(v) >>> 16);
                    }
                    data.set(SHORT_LE, i * 2, bits);
                    return Float.intBitsToFloat(bits << 16);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void vectorAndScalarAgreeWithFloat64Reference(Case c) {
        long seed = dev.jllm.TestSeeds.seed("FloatKernelTest.vectorAndScalarAgreeWithFloat64Reference");
        Random random = new Random(seed);
        Kernel kernel = c.type.kernel();
        assertSame(Kernels.forType(c.type), kernel);
        for (int round = 0; round < 4; round++) {
            for (int n = 1; n <= 40; n++) {
                check(c, kernel, n, random, "seed " + seed + ", round " + round);
            }
            for (int n : new int[] {64, 100, 255, 1000}) {
                check(c, kernel, n, random, "seed " + seed + ", round " + round);
            }
        }
    }

    private static void check(Case c, Kernel kernel, int n, Random random, String where) {
        int total = n * ROWS;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(1 + c.type.bytesFor(total)).asSlice(1);
            float[] expected = new float[total];
            for (int i = 0; i < total; i++) {
                expected[i] = c.write(random, data, i);
            }
            Tensor tensor = new Tensor("t", c.type, new long[] {n, ROWS}, data);
            for (int row = 0; row < ROWS; row++) {
                float[] values = new float[n + 2];
                tensor.dequantizeRow(row, values, 2);
                float[] scalar = new float[n];
                if (c.scalarDequantize != null) {
                    c.scalarDequantize.dequantize(data, (long) row * n, n, scalar, 0);
                }
                for (int i = 0; i < n; i++) {
                    int want = Float.floatToRawIntBits(expected[row * n + i]);
                    assertEquals(want, Float.floatToRawIntBits(values[2 + i]),
                            c + " dequantize row " + row + " element " + i + " of " + n + ", " + where);
                    if (c.scalarDequantize != null) {
                        assertEquals(want, Float.floatToRawIntBits(scalar[i]),
                                c + " scalar dequantize row " + row + " element " + i + ", " + where);
                    }
                }

                int xOffset = random.nextInt(5);
                float[] x = new float[n + 5];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) random.nextGaussian();
                }
                double reference = 0;
                double scale = 0;
                for (int i = 0; i < n; i++) {
                    double term = (double) expected[row * n + i] * x[xOffset + i];
                    reference += term;
                    scale += Math.abs(term);
                }
                double tolerance = TOLERANCE * scale + Float.MIN_NORMAL;
                float vector = tensor.dotRow(row, x, xOffset);
                float plain = c.scalarDot.dot(data, (long) row * n, n, x, xOffset);
                String message = c + " row " + row + " of length " + n + ", " + where + ": vector " + vector
                        + ", scalar " + plain + ", reference " + reference;
                assertTrue(Math.abs(vector - reference) <= tolerance, message);
                assertTrue(Math.abs(plain - reference) <= tolerance, message);
            }
        }
    }

    @Test
    void everyHalfPrecisionPatternConvertsExactly() {
        checkAllPatterns(F16Kernel.INSTANCE, Float::float16ToFloat, "F16");
    }

    @Test
    void everyBfloat16PatternConvertsExactly() {
        checkAllPatterns(BF16Kernel.INSTANCE, bits -> Float.intBitsToFloat(bits << 16), "BF16");
    }

    interface ShortToFloat {
        float convert(short bits);
    }

    private static void checkAllPatterns(Kernel kernel, ShortToFloat reference, String name) {
        int n = 1 << 16;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(2L * n + 2).asSlice(2);
            for (int i = 0; i < n; i++) {
                data.set(SHORT_LE, 2L * i, (short) i);
            }
            float[] out = new float[n];
            kernel.dequantize(data, 0, n, out, 0);
            for (int i = 0; i < n; i++) {
                float want = reference.convert((short) i);
                if (Float.isNaN(want)) {
                    assertTrue(Float.isNaN(out[i]), name + " pattern 0x" + Integer.toHexString(i) + " should be NaN");
                } else {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[i]),
                            name + " pattern 0x" + Integer.toHexString(i) + ": expected " + want + ", got " + out[i]);
                }
            }
            // The same patterns one element further in, so that every vector load is unaligned.
            float[] shifted = new float[n - 1];
            kernel.dequantize(data, 1, n - 1, shifted, 0);
            for (int i = 0; i < n - 1; i++) {
                assertTrue(Float.floatToRawIntBits(out[i + 1]) == Float.floatToRawIntBits(shifted[i])
                        || Float.isNaN(out[i + 1]) && Float.isNaN(shifted[i]), name + " shifted pattern " + (i + 1));
            }
        }
    }
}
