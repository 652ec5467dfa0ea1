package dev.jllm.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The quantizers against llama.cpp's own output (the stories260K files quantized by llama-quantize with ggml's
 * reference quantizer), and quantize-then-dequantize (with the engine's kernels) on random data within the error the
 * formats allow.
 */
class QuantizerTest {

    private final long seed = dev.jllm.TestSeeds.seed("QuantizerTest");
    private final Random random = new Random(seed);

    @ParameterizedTest
    @CsvSource({"Q8_0, stories260K-q8_0-mixed.gguf", "Q4_0, stories260K-q4_0-mixed.gguf"})
    void matchesLlamaQuantizeByteForByte(GgmlType type, String quantizedFile) {
        int compared = 0;
        try (GgufFile f32 = GgufReader.read(SharedData.model("stories260K-f32.gguf"));
                GgufFile quantized = GgufReader.read(SharedData.model(quantizedFile))) {
            Map<String, Tensor> source = f32.tensors();
            for (Tensor q : quantized.tensors().values()) {
                if (q.type() != type) {
                    continue;
                }
                Tensor original = source.get(q.name());
                assertEquals(GgmlType.F32, original.type(), q.name());
                byte[] ours = Quantizer.of(type).quantize(original.toFloatArray());
                byte[] theirs = q.data().toArray(ValueLayout.JAVA_BYTE);
                assertArrayEquals(theirs, ours, q.name() + " quantized to " + type);
                compared++;
            }
        }
        // token_embd, output and the q, k, v, attn_output, ffn_gate, ffn_up matrices of 5 layers
        assertEquals(2 + 5 * 6, compared);
    }

    /**
     * Q4_K and Q6_K against llama-quantize's {@code --pure q4_k} and {@code --pure q6_k} of synth256-f16.gguf (the
     * synth256 files of ../shared/models; the F16 weights converted to float exactly, as llama-quantize does), every
     * matrix byte for byte.
     */
    @ParameterizedTest
    @CsvSource({"Q4_K, synth256-q4_k_m.gguf", "Q6_K, synth256-q6_k.gguf"})
    void kQuantsMatchLlamaQuantizeByteForByte(GgmlType type, String quantizedFile) {
        int compared = 0;
        try (GgufFile f16 = GgufReader.read(SharedData.model("synth256/synth256-f16.gguf"));
                GgufFile quantized = GgufReader.read(SharedData.model("synth256/" + quantizedFile))) {
            Map<String, Tensor> source = f16.tensors();
            for (Tensor q : quantized.tensors().values()) {
                if (q.type() != type) {
                    continue;
                }
                Tensor original = source.get(q.name());
                assertEquals(GgmlType.F16, original.type(), q.name());
                byte[] ours = Quantizer.of(type).quantize(original.toFloatArray());
                byte[] theirs = q.data().toArray(ValueLayout.JAVA_BYTE);
                int firstDifference = java.util.Arrays.mismatch(theirs, ours);
                assertEquals(-1, firstDifference, q.name() + " quantized to " + type + ": first different byte "
                        + firstDifference + " (block " + firstDifference / type.blockBytes + ")");
                compared++;
            }
        }
        // token_embd, output and the 7 matrices of 4 layers
        assertEquals(2 + 4 * 7, compared);
    }

    @Test
    void q8_0RoundsHalvesAwayFromZeroAsRoundf() {
        float[] x = new float[32];
        x[0] = 127f; // amax 127: d = 1 exactly, 1/d = 1
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.49999997f; // the largest float below 0.5 rounds to 0 (floor(x + 0.5f) would give 1)
        x[4] = -126.5f;
        byte[] q = Quantizer.of(GgmlType.Q8_0).quantize(x);
        assertEquals(0x3C00, (q[0] & 0xFF) | (q[1] & 0xFF) << 8, "d = 1.0 as FP16");
        assertEquals(127, q[2]);
        assertEquals(3, q[3]);
        assertEquals(-3, q[4]);
        assertEquals(0, q[5]);
        assertEquals(-127, q[6]);
    }

    @Test
    void q4_0MapsTheSignedMaximumToZeroAndClipsTheOtherEnd() {
        float[] x = new float[32];
        x[0] = -8f; // the largest magnitude, negative: d = -8 / -8 = 1
        x[1] = 8f; // 8 * 1 + 8.5 = 16.5 truncates to 16, clipped to 15
        x[2] = 0.49f; // 8.99 -> 8
        x[3] = -0.51f; // 7.99 -> 7
        x[16] = 7.5f; // 16.0 -> 16 -> 15
        x[17] = 6.49f; // 14.99 -> 14
        byte[] q = Quantizer.of(GgmlType.Q4_0).quantize(x);
        assertEquals(0x3C00, (q[0] & 0xFF) | (q[1] & 0xFF) << 8);
        assertEquals(0 | 15 << 4, q[2] & 0xFF, "element 0 low, element 16 high");
        assertEquals(15 | 14 << 4, q[3] & 0xFF);
        assertEquals(8 | 8 << 4, q[4] & 0xFF);
        assertEquals(7 | 8 << 4, q[5] & 0xFF);
        // the same block with the sign flipped: d = -1, max (8) maps to 0
        for (int i = 0; i < 32; i++) {
            x[i] = -x[i];
        }
        q = Quantizer.of(GgmlType.Q4_0).quantize(x);
        assertEquals(0xBC00, (q[0] & 0xFF) | (q[1] & 0xFF) << 8, "d = -1.0 as FP16");
        assertEquals(0 | 15 << 4, q[2] & 0xFF);
    }

    @Test
    void zeroBlocksGiveZeroScales() {
        float[] x = new float[64];
        byte[] q8 = Quantizer.of(GgmlType.Q8_0).quantize(x);
        assertArrayEquals(new byte[68], q8);
        byte[] q4 = Quantizer.of(GgmlType.Q4_0).quantize(x);
        for (int block = 0; block < 2; block++) {
            // d = 0.0f / -8 is -0.0f in C as in Java: FP16 0x8000
            assertEquals(0x8000, (q4[block * 18] & 0xFF) | (q4[block * 18 + 1] & 0xFF) << 8);
            for (int j = 2; j < 18; j++) {
                assertEquals((byte) 0x88, q4[block * 18 + j], "x * 0 + 8.5 truncates to 8");
            }
        }
    }

    /** Random blocks of several kinds: normal, uniform, large, tiny (subnormal FP16 scales), sparse, constant. */
    private float[] randomData(int blocks) {
        float[] x = new float[blocks * 32];
        for (int b = 0; b < blocks; b++) {
            int kind = random.nextInt(7);
            float scale = switch (kind) {
                case 2 -> 1000f;
                case 3 -> 1e-6f;
                case 4 -> 3e-9f;
                default -> 1f;
            };
            float constant = (float) random.nextGaussian();
            for (int j = 0; j < 32; j++) {
                float v = switch (kind) {
                    case 1 -> random.nextFloat() * 2 - 1;
                    case 5 -> random.nextInt(8) == 0 ? (float) random.nextGaussian() : 0f;
                    case 6 -> constant;
                    default -> (float) random.nextGaussian();
                };
                x[b * 32 + j] = v * scale;
            }
        }
        return x;
    }

    private static float[] dequantize(GgmlType type, byte[] bytes, int count) {
        return new Tensor("t", type, new long[] {count}, MemorySegment.ofArray(bytes)).toFloatArray();
    }

    @Test
    void q8_0ErrorIsWithinHalfAStep() {
        float[] x = randomData(4000);
        byte[] q = Quantizer.of(GgmlType.Q8_0).quantize(x);
        float[] y = dequantize(GgmlType.Q8_0, q, x.length);
        for (int b = 0; b < x.length / 32; b++) {
            double amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[b * 32 + j]));
            }
            double d = amax / 127;
            double stored = Float.float16ToFloat(Float.floatToFloat16((float) d));
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                // half a step, plus what rounding d to FP16 moves the largest code (127) by, plus FP16 underflow,
                // plus the float rounding of x / d and of q * d (an ulp of the values involved)
                double bound = d / 2 + 127 * Math.abs(stored - d) + 1e-12 + 2 * Math.ulp((float) amax);
                assertTrue(Math.abs(x[i] - y[i]) <= bound, "element " + i + ": " + x[i] + " -> " + y[i]
                        + " (bound " + bound + ", seed " + seed + ")");
            }
        }
    }

    @Test
    void q4_0ErrorIsWithinAStep() {
        float[] x = randomData(4000);
        byte[] q = Quantizer.of(GgmlType.Q4_0).quantize(x);
        float[] y = dequantize(GgmlType.Q4_0, q, x.length);
        double sumSquares = 0, sumErrors = 0;
        for (int b = 0; b < x.length / 32; b++) {
            double amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[b * 32 + j]));
            }
            double d = amax / 8;
            double stored = Math.abs(Float.float16ToFloat(Float.floatToFloat16((float) d)));
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                // codes -8..7: half a step inside, up to a whole step where the positive end is clipped at 7
                double bound = d + 8 * Math.abs(stored - d) + 1e-12;
                assertTrue(Math.abs(x[i] - y[i]) <= bound, "element " + i + ": " + x[i] + " -> " + y[i]
                        + " (bound " + bound + ", seed " + seed + ")");
                if (Math.abs(x[i]) == amax) {
                    // the block's largest magnitude is represented as exactly as the FP16 scale allows
                    assertTrue(Math.abs(x[i] - y[i]) <= 8 * Math.abs(stored - d) + 1e-12, "max element " + i);
                }
            }
        }
        // a normal block's error is mostly far below the bound: RMS around step / sqrt(12) at most
        float[] normal = new float[32 * 2000];
        for (int i = 0; i < normal.length; i++) {
            normal[i] = (float) random.nextGaussian();
        }
        float[] back = dequantize(GgmlType.Q4_0, Quantizer.of(GgmlType.Q4_0).quantize(normal), normal.length);
        for (int i = 0; i < normal.length; i++) {
            sumSquares += (normal[i] - back[i]) * (double) (normal[i] - back[i]);
            sumErrors += normal[i] * (double) normal[i];
        }
        double relativeRms = Math.sqrt(sumSquares / sumErrors);
        assertTrue(relativeRms > 0.05 && relativeRms < 0.15, "relative RMS error " + relativeRms + " (seed " + seed + ")");
    }

    @Test
    void f16AndBf16RoundToNearestEven() {
        float[] x = new float[20000];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 4) {
                case 0 -> Float.intBitsToFloat(random.nextInt()); // any bit pattern
                case 1 -> (float) random.nextGaussian() * 0.02f;
                case 2 -> (float) random.nextGaussian() * 1e-6f; // F16 subnormals
                default -> (float) random.nextGaussian() * 60000f; // near F16 overflow
            };
        }
        float[] ties = {1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 65504f, 65519.99f, 65520f, 0x1p-25f, 0x1.8p-24f, 1 + 0x1p-8f,
            1 + 3 * 0x1p-8f, Float.MAX_VALUE, -0f, Float.NaN, Float.POSITIVE_INFINITY};
        float[] all = new float[x.length + ties.length];
        System.arraycopy(x, 0, all, 0, x.length);
        System.arraycopy(ties, 0, all, x.length, ties.length);
        float[] f16 = dequantize(GgmlType.F16, Quantizer.of(GgmlType.F16).quantize(all), all.length);
        float[] bf16 = dequantize(GgmlType.BF16, Quantizer.of(GgmlType.BF16).quantize(all), all.length);
        for (int i = 0; i < all.length; i++) {
            assertEquals(nearestEven(all[i], 10, -14, 65504), f16[i], "F16 of " + all[i] + " (seed " + seed + ")");
            assertEquals(nearestEven(all[i], 7, -126, Float.intBitsToFloat(0x7F7F0000)), bf16[i],
                    "BF16 of " + all[i] + " (seed " + seed + ")");
        }
    }

    /**
     * The value nearest to {@code x} with {@code mantissaBits} stored bits and exponents down to {@code minExponent}
     * (subnormals below), ties to even, infinity past {@code max} (worked in double, independently of the JDK).
     */
    private static float nearestEven(float x, int mantissaBits, int minExponent, double max) {
        if (Float.isNaN(x) || Float.isInfinite(x) || x == 0) {
            return x;
        }
        double v = Math.abs((double) x);
        int exponent = Math.max(Math.getExponent(v), minExponent);
        double step = Math.scalb(1.0, exponent - mantissaBits);
        double q = v / step; // exact: a power-of-two division
        double lower = Math.floor(q);
        double rounded = q - lower > 0.5 || (q - lower == 0.5 && lower % 2 != 0) ? lower + 1 : lower;
        double result = rounded * step;
        double overflow = max + Math.scalb(1.0, Math.getExponent(max) - mantissaBits) / 2; // halfway to the next
        if (result > max || v >= overflow) {
            result = Double.POSITIVE_INFINITY;
        }
        return (float) Math.copySign(result, x);
    }

    /**
     * Q4_K, Q6_K and Q5_0 read back with the engine's kernels: every value of a Q5_0 block within a step of d = amax /
     * 16 (plus the fp16 rounding of d); for the K-quants, whose scales are least-squares fits, the RMS error of
     * Gaussian data relative to its RMS within what 4 and 6 bits give (about 0.07 and 0.017 here), zero blocks exactly
     * zero, and a block of one repeated value close to it.
     */
    @Test
    void kQuantsAndQ5_0ReadBackWithinTheirPrecision() {
        float[] normal = new float[256 * 400];
        for (int i = 0; i < normal.length; i++) {
            normal[i] = (float) (random.nextGaussian() * (i / 256 % 7 == 0 ? 0.001 : 0.05));
        }
        for (GgmlType type : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q6_K}) {
            float[] back = dequantize(type, Quantizer.of(type).quantize(normal), normal.length);
            double sumSquares = 0;
            double sumValues = 0;
            for (int i = 0; i < normal.length; i++) {
                sumSquares += (normal[i] - back[i]) * (double) (normal[i] - back[i]);
                sumValues += normal[i] * (double) normal[i];
            }
            double relativeRms = Math.sqrt(sumSquares / sumValues);
            double limit = type == GgmlType.Q4_K ? 0.12 : 0.03;
            assertTrue(relativeRms > limit / 10 && relativeRms < limit, type + " relative RMS error " + relativeRms
                    + " (seed " + seed + ")");
            float[] zero = new float[512];
            zero[300] = 1e-3f; // the second block is not zero
            float[] zeroBack = dequantize(type, Quantizer.of(type).quantize(zero), zero.length);
            for (int i = 0; i < 256; i++) {
                assertTrue(zeroBack[i] == 0f, type + " zero block, value " + i + ": " + zeroBack[i]); // -0 for Q6_K
            }
            assertEquals(1e-3f, zeroBack[300], 1e-3f * 0.05, type + " the lone value of a block");
            float[] constant = new float[256];
            java.util.Arrays.fill(constant, -0.75f);
            float[] constantBack = dequantize(type, Quantizer.of(type).quantize(constant), constant.length);
            for (float v : constantBack) {
                assertEquals(-0.75f, v, 0.75f * 2e-3, type + " a constant block");
            }
        }
        float[] x = randomData(32 * 200);
        float[] y = dequantize(GgmlType.Q5_0, Quantizer.of(GgmlType.Q5_0).quantize(x), x.length);
        for (int b = 0; b < x.length / 32; b++) {
            double amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[b * 32 + j]));
            }
            double d = amax / 16;
            double stored = Math.abs(Float.float16ToFloat(Float.floatToFloat16((float) d)));
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                // codes -16..15: half a step inside, up to a whole step where the positive end is clipped at 15
                double bound = d + 16 * Math.abs(stored - d) + 1e-12;
                assertTrue(Math.abs(x[i] - y[i]) <= bound, "Q5_0 element " + i + ": " + x[i] + " -> " + y[i]
                        + " (bound " + bound + ", seed " + seed + ")");
            }
        }
    }

    @Test
    void f32IsCopied() {
        float[] x = randomData(10);
        assertArrayEquals(x, dequantize(GgmlType.F32, Quantizer.of(GgmlType.F32).quantize(x), x.length));
    }

    @Test
    void rejectsPartialBlocksAndUnsupportedTypes() {
        assertThrows(IllegalArgumentException.class, () -> Quantizer.of(GgmlType.Q8_0).quantize(new float[33]));
        assertThrows(IllegalArgumentException.class, () -> Quantizer.of(GgmlType.Q3_K));
        assertThrows(IllegalArgumentException.class, () -> Quantizer.of(GgmlType.Q4_K).quantize(new float[128]));
        assertEquals(GgmlType.Q4_0, Quantizer.of(GgmlType.Q4_0).type());
    }
}
