package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * The test's own model of every block type jllm runs: a block as integers (the signed quant each value multiplies
 * with, one scale and one minimum per 16 values, fp16 d and dmin), packed into ggml's byte layout by code written
 * here from ggml's block structs (independently of the {@link BlockDecoder}s), with the values gguf-py's dequantizer
 * gives. Random blocks mix typical contents with extremes: every quant at its minimum or maximum, scales at their
 * limits, fp16 scales from subnormal to 65504, zero scales.
 */
final class BlockSamples {

    private BlockSamples() {
    }

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The types this model covers, with what ggml's x86 dot product does with their minimums. */
    enum Type {
        Q4_0(GgmlType.Q4_0, -8, 7, 0, 0, Mins.NONE),
        Q4_1(GgmlType.Q4_1, 0, 15, 0, 0, Mins.ADDED),
        Q5_0(GgmlType.Q5_0, -16, 15, 0, 0, Mins.NONE),
        Q5_1(GgmlType.Q5_1, 0, 31, 0, 0, Mins.ADDED),
        Q8_0(GgmlType.Q8_0, -128, 127, 0, 0, Mins.NONE),
        IQ4_NL(GgmlType.IQ4_NL, 0, 15, 0, 0, Mins.NONE),
        Q2_K(GgmlType.Q2_K, 0, 3, 0, 15, Mins.IN_LANES),
        Q3_K(GgmlType.Q3_K, -4, 3, -32, 31, Mins.NONE),
        Q4_K(GgmlType.Q4_K, 0, 15, 0, 63, Mins.FOUR_LANES),
        Q5_K(GgmlType.Q5_K, 0, 31, 0, 63, Mins.ONE_APART),
        Q6_K(GgmlType.Q6_K, -32, 31, -128, 127, Mins.NONE),
        IQ4_XS(GgmlType.IQ4_XS, 0, 15, -32, 31, Mins.NONE);

        final GgmlType ggml;
        /** Range of the stored quant (an index into the IQ4 grid for the IQ types). */
        final int qMin;
        final int qMax;
        /** Range of the integer scale (0, 0: no scales); minimums, where there are, range over 0 .. scaleMax. */
        final int scaleMin;
        final int scaleMax;
        final Mins mins;

        Type(GgmlType ggml, int qMin, int qMax, int scaleMin, int scaleMax, Mins mins) {
            this.ggml = ggml;
            this.qMin = qMin;
            this.qMax = qMax;
            this.scaleMin = scaleMin;
            this.scaleMax = scaleMax;
            this.mins = mins;
        }

        int blockSize() {
            return ggml.blockSize();
        }

        boolean hasScales() {
            return scaleMax != 0;
        }

        /** Values per scale: 16 (Q2_K, Q3_K, Q6_K) or 32. */
        int scaleGroup() {
            return this == Q2_K || this == Q3_K || this == Q6_K ? 16 : 32;
        }

        /** The value a stored quant multiplies with (the IQ4 grid for the IQ types). */
        int value(int stored) {
            return this == IQ4_NL || this == IQ4_XS ? IQ4_GRID[stored] : stored;
        }
    }

    /** How ggml's x86 kernel adds the minimum terms (see BlockKernel.MinimumSum). */
    enum Mins {
        NONE, ADDED, IN_LANES, FOUR_LANES, ONE_APART
    }

    static final int[] IQ4_GRID = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /**
     * One block as integers: {@code q[i]} the stored quant of value i (signed where the type's quant is), scale and
     * min per scale group, d and dmin (Q4_1 / Q5_1: m) as fp16 bits.
     */
    record Block(Type type, int[] q, int[] scale, int[] min, short d, short dmin) {

        /** The signed integer value i multiplies the activations with. */
        int quant(int i) {
            return type.value(q[i]);
        }

        int scaleOf(int i) {
            return type.hasScales() ? scale[i / type.scaleGroup()] : 1;
        }

        int minOf(int i) {
            return type.mins == Mins.NONE || type.mins == Mins.ADDED ? 0 : min[i / type.scaleGroup()];
        }

        float dFloat() {
            return Float.float16ToFloat(d);
        }

        float dminFloat() {
            return Float.float16ToFloat(dmin);
        }

        /** Value i as gguf-py's dequantizer computes it (float operations in its order). */
        float expected(int i) {
            float dv = dFloat();
            return switch (type) {
                case Q4_0, Q5_0, Q8_0, IQ4_NL -> dv * quant(i);
                case Q4_1, Q5_1 -> quant(i) * dv + dminFloat();
                case Q3_K, Q6_K, IQ4_XS -> (dv * scaleOf(i)) * quant(i);
                case Q2_K, Q4_K, Q5_K -> (dv * scaleOf(i)) * quant(i) - dminFloat() * minOf(i);
            };
        }
    }

    /** A random block: mostly typical, sometimes extreme (see the class comment). */
    static Block random(Type type, Random random) {
        int n = type.blockSize();
        int[] q = new int[n];
        int mode = random.nextInt(8);
        for (int i = 0; i < n; i++) {
            q[i] = switch (mode) {
                case 0 -> type.qMin;
                case 1 -> type.qMax;
                case 2 -> random.nextBoolean() ? type.qMin : type.qMax;
                default -> type.qMin + random.nextInt(type.qMax - type.qMin + 1);
            };
        }
        int groups = type.hasScales() ? n / type.scaleGroup() : 0;
        int[] scale = new int[groups];
        int[] min = new int[groups];
        int scaleMode = random.nextInt(6);
        for (int g = 0; g < groups; g++) {
            scale[g] = switch (scaleMode) {
                case 0 -> type.scaleMin;
                case 1 -> type.scaleMax;
                default -> type.scaleMin + random.nextInt(type.scaleMax - type.scaleMin + 1);
            };
            min[g] = scaleMode == 1 ? type.scaleMax : random.nextInt(type.scaleMax + 1);
        }
        return new Block(type, q, scale, min, randomHalf(random), randomHalf(random));
    }

    /**
     * Half the time a typical weight scale, otherwise any finite fp16 pattern (subnormals, negatives, 65504), now and
     * then zero.
     */
    static short randomHalf(Random random) {
        int kind = random.nextInt(16);
        if (kind < 8) {
            return Float.floatToFloat16((float) (random.nextGaussian() * 0.01));
        }
        if (kind == 8) {
            return 0;
        }
        if (kind == 9) {
            return (short) (random.nextBoolean() ? 0x7BFF : 0xFBFF); // +-65504
        }
        short bits;
        do {
            bits = (short) random.nextInt(1 << 16);
        } while ((bits & 0x7C00) == 0x7C00);
        return bits;
    }

    /** Writes {@code b} at {@code at} in ggml's layout for its type. */
    static void pack(Block b, MemorySegment data, long at) {
        int[] q = b.q();
        switch (b.type()) {
            case Q4_0, Q4_1, IQ4_NL -> {
                int bias = b.type() == Type.Q4_0 ? 8 : 0;
                long qs = at + (b.type() == Type.Q4_1 ? 4 : 2);
                data.set(SHORT_LE, at, b.d());
                if (b.type() == Type.Q4_1) {
                    data.set(SHORT_LE, at + 2, b.dmin());
                }
                for (int j = 0; j < 16; j++) {
                    data.set(ValueLayout.JAVA_BYTE, qs + j, (byte) ((q[j] + bias) | (q[j + 16] + bias) << 4));
                }
            }
            case Q5_0, Q5_1 -> {
                int bias = b.type() == Type.Q5_0 ? 16 : 0;
                boolean hasMin = b.type() == Type.Q5_1;
                data.set(SHORT_LE, at, b.d());
                if (hasMin) {
                    data.set(SHORT_LE, at + 2, b.dmin());
                }
                int qh = 0;
                for (int j = 0; j < 32; j++) {
                    qh |= ((q[j] + bias) >> 4 & 1) << j;
                }
                data.set(INT_LE, at + (hasMin ? 4 : 2), qh);
                long qs = at + (hasMin ? 8 : 6);
                for (int j = 0; j < 16; j++) {
                    data.set(ValueLayout.JAVA_BYTE, qs + j, (byte) (((q[j] + bias) & 15) | ((q[j + 16] + bias) & 15) << 4));
                }
            }
            case Q8_0 -> {
                data.set(SHORT_LE, at, b.d());
                for (int j = 0; j < 32; j++) {
                    data.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) q[j]);
                }
            }
            case Q2_K -> {
                for (int g = 0; g < 16; g++) {
                    data.set(ValueLayout.JAVA_BYTE, at + g, (byte) (b.scale()[g] | b.min()[g] << 4));
                }
                byte[] qs = new byte[64];
                for (int n = 0; n < 2; n++) {
                    for (int j = 0; j < 4; j++) {
                        for (int l = 0; l < 32; l++) {
                            qs[32 * n + l] |= (byte) (q[128 * n + 32 * j + l] << (2 * j));
                        }
                    }
                }
                MemorySegment.copy(qs, 0, data, ValueLayout.JAVA_BYTE, at + 16, 64);
                data.set(SHORT_LE, at + 80, b.d());
                data.set(SHORT_LE, at + 82, b.dmin());
            }
            case Q3_K -> {
                byte[] hmask = new byte[32];
                byte[] qs = new byte[64];
                for (int n = 0; n < 2; n++) {
                    for (int j = 0; j < 4; j++) {
                        for (int l = 0; l < 32; l++) {
                            int stored = q[128 * n + 32 * j + l] + 4;
                            qs[32 * n + l] |= (byte) ((stored & 3) << (2 * j));
                            hmask[l] |= (byte) ((stored >> 2) << (4 * n + j));
                        }
                    }
                }
                byte[] scales = new byte[12];
                for (int g = 0; g < 16; g++) {
                    int s6 = b.scale()[g] + 32;
                    scales[g % 8] |= (byte) ((s6 & 0xF) << (4 * (g / 8)));
                    scales[8 + g % 4] |= (byte) ((s6 >> 4) << (2 * (g / 4)));
                }
                MemorySegment.copy(hmask, 0, data, ValueLayout.JAVA_BYTE, at, 32);
                MemorySegment.copy(qs, 0, data, ValueLayout.JAVA_BYTE, at + 32, 64);
                MemorySegment.copy(scales, 0, data, ValueLayout.JAVA_BYTE, at + 96, 12);
                data.set(SHORT_LE, at + 108, b.d());
            }
            case Q4_K, Q5_K -> {
                boolean five = b.type() == Type.Q5_K;
                data.set(SHORT_LE, at, b.d());
                data.set(SHORT_LE, at + 2, b.dmin());
                MemorySegment.copy(packScalesK4(b.scale(), b.min()), 0, data, ValueLayout.JAVA_BYTE, at + 4, 12);
                byte[] qh = new byte[32];
                byte[] qs = new byte[128];
                for (int c = 0; c < 4; c++) {
                    for (int l = 0; l < 32; l++) {
                        int low = q[64 * c + l];
                        int high = q[64 * c + 32 + l];
                        qs[32 * c + l] = (byte) ((low & 15) | (high & 15) << 4);
                        qh[l] |= (byte) ((low >> 4) << (2 * c) | (high >> 4) << (2 * c + 1));
                    }
                }
                if (five) {
                    MemorySegment.copy(qh, 0, data, ValueLayout.JAVA_BYTE, at + 16, 32);
                }
                MemorySegment.copy(qs, 0, data, ValueLayout.JAVA_BYTE, at + (five ? 48 : 16), 128);
            }
            case Q6_K -> {
                byte[] ql = new byte[128];
                byte[] qh = new byte[64];
                for (int n = 0; n < 2; n++) {
                    for (int l = 0; l < 32; l++) {
                        int[] v = new int[4];
                        for (int k = 0; k < 4; k++) {
                            v[k] = q[128 * n + 32 * k + l] + 32;
                        }
                        ql[64 * n + l] = (byte) ((v[0] & 15) | (v[2] & 15) << 4);
                        ql[64 * n + 32 + l] = (byte) ((v[1] & 15) | (v[3] & 15) << 4);
                        qh[32 * n + l] = (byte) ((v[0] >> 4) | (v[1] >> 4) << 2 | (v[2] >> 4) << 4 | (v[3] >> 4) << 6);
                    }
                }
                MemorySegment.copy(ql, 0, data, ValueLayout.JAVA_BYTE, at, 128);
                MemorySegment.copy(qh, 0, data, ValueLayout.JAVA_BYTE, at + 128, 64);
                for (int g = 0; g < 16; g++) {
                    data.set(ValueLayout.JAVA_BYTE, at + 192 + g, (byte) b.scale()[g]);
                }
                data.set(SHORT_LE, at + 208, b.d());
            }
            case IQ4_XS -> {
                data.set(SHORT_LE, at, b.d());
                int high = 0;
                byte[] low = new byte[4];
                byte[] qs = new byte[128];
                for (int g = 0; g < 8; g++) {
                    int ls = b.scale()[g] + 32;
                    low[g / 2] |= (byte) ((ls & 15) << (4 * (g % 2)));
                    high |= (ls >> 4) << (2 * g);
                    for (int j = 0; j < 16; j++) {
                        qs[16 * g + j] = (byte) (q[32 * g + j] | q[32 * g + 16 + j] << 4);
                    }
                }
                data.set(SHORT_LE, at + 2, (short) high);
                MemorySegment.copy(low, 0, data, ValueLayout.JAVA_BYTE, at + 4, 4);
                MemorySegment.copy(qs, 0, data, ValueLayout.JAVA_BYTE, at + 8, 128);
            }
        }
    }

    /** Q4_K / Q5_K scales and minimums, as ggml's quantize_row_q4_K_ref packs them. */
    private static byte[] packScalesK4(int[] scale, int[] min) {
        byte[] s = new byte[12];
        for (int j = 0; j < 8; j++) {
            int ls = scale[j];
            int lm = min[j];
            if (j < 4) {
                s[j] = (byte) ls;
                s[j + 4] = (byte) lm;
            } else {
                s[j + 4] = (byte) ((ls & 0xF) | (lm & 0xF) << 4);
                s[j - 4] |= (byte) ((ls >> 4) << 6);
                s[j] |= (byte) ((lm >> 4) << 6);
            }
        }
        return s;
    }

    /** {@code blocks} random blocks packed into {@code data} from its start; returns them. */
    static Block[] fill(Type type, Random random, MemorySegment data, int blocks) {
        Block[] all = new Block[blocks];
        for (int b = 0; b < blocks; b++) {
            all[b] = random(type, random);
            pack(all[b], data, (long) b * type.ggml.blockBytes);
        }
        return all;
    }

    /** The case of {@code ggml}, or null when this model does not cover it. */
    static Type of(GgmlType ggml) {
        for (Type t : Type.values()) {
            if (t.ggml == ggml) {
                return t;
            }
        }
        return null;
    }
}
