package dev.jllm.tensor;

import static dev.jllm.tensor.KernelVectors.BYTES;
import static dev.jllm.tensor.KernelVectors.BYTE_LANES;
import static dev.jllm.tensor.KernelVectors.BYTE_PARTS;
import static dev.jllm.tensor.KernelVectors.FLOATS;
import static dev.jllm.tensor.KernelVectors.FLOAT_LANES;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml's Q4_1: blocks of 32 values, each an fp16 scale d, an fp16 minimum m, then 16 bytes of nibbles laid out as
 * in Q4_0 (low nibbles elements 0..15, high nibbles 16..31); value = q * d + m.
 */
final class Q4_1Kernel implements Kernel {

    static final Q4_1Kernel INSTANCE = new Q4_1Kernel();

    static final int BLOCK = 32;
    static final int BLOCK_BYTES = 20;
    private static final int M = 2;
    private static final int QS = 4;

    @Override
    public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        dequantizeScalar(data, first, count, out, outOffset);
    }

    /** Per block: d * sum(q * x) + m * sum(x). */
    @Override
    public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        FloatVector acc = FloatVector.zero(FLOATS);
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float d = KernelVectors.f16(data, block);
            float m = KernelVectors.f16(data, block + M);
            FloatVector qx = FloatVector.zero(FLOATS);
            FloatVector xs = FloatVector.zero(FLOATS);
            for (int j = 0; j < BLOCK / 2; j += BYTE_LANES) {
                ByteVector q = ByteVector.fromMemorySegment(BYTES, data, block + QS + j, ByteOrder.LITTLE_ENDIAN);
                ByteVector low = q.and((byte) 0x0F);
                ByteVector high = q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F);
                for (int p = 0; p < BYTE_PARTS; p++) {
                    int xi = xOffset + e + j + p * FLOAT_LANES;
                    FloatVector x0 = FloatVector.fromArray(FLOATS, x, xi);
                    FloatVector x1 = FloatVector.fromArray(FLOATS, x, xi + BLOCK / 2);
                    qx = KernelVectors.bytesToFloats(low, p).fma(x0, qx);
                    qx = KernelVectors.bytesToFloats(high, p).fma(x1, qx);
                    xs = xs.add(x0).add(x1);
                }
            }
            acc = qx.fma(FloatVector.broadcast(FLOATS, d), acc);
            acc = xs.fma(FloatVector.broadcast(FLOATS, m), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** ggml's vec_dot_type for Q4_1 is Q8_1. */
    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_1;
    }

    /**
     * The dot product with prepared activations as ggml's x86 {@code ggml_vec_dot_q4_1_q8_1} computes it (see
     * {@link KernelVectors#LANES4}): the same float, bit for bit. The m_w * s_x terms are summed apart over the
     * blocks and added at the very end, as ggml does.
     */
    @Override
    public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_1, xOffset);
        int[] lanes = x.lanes();
        float[] xd = x.scales();
        float[] xs = x.sums();
        long block = first / BLOCK * BLOCK_BYTES;
        int xBlock = xOffset / BLOCK;
        FloatVector low = FloatVector.zero(KernelVectors.FLOATS4);
        FloatVector high = FloatVector.zero(KernelVectors.FLOATS4);
        float mins = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES, xBlock++) {
            int at = xOffset + e;
            IntVector q = IntVector.fromMemorySegment(KernelVectors.LANES4, data, block + QS, ByteOrder.LITTLE_ENDIAN);
            IntVector lowNibbles = q.and(0x0F0F0F0F);
            IntVector highNibbles = q.lanewise(VectorOperators.LSHR, 4).and(0x0F0F0F0F);
            IntVector sumLow = IntVector.zero(KernelVectors.LANES4);
            IntVector sumHigh = IntVector.zero(KernelVectors.LANES4);
            for (int t = 0; t < 4; t++) {
                sumLow = sumLow.add(lowNibbles.lanewise(VectorOperators.LSHR, 8 * t).and(0xFF)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t)));
                sumHigh = sumHigh.add(highNibbles.lanewise(VectorOperators.LSHR, 8 * t).and(0xFF)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t + 4)));
            }
            FloatVector d = FloatVector.broadcast(KernelVectors.FLOATS4, KernelVectors.f16(data, block) * xd[xBlock]);
            low = ((FloatVector) sumLow.convert(VectorOperators.I2F, 0)).fma(d, low);
            high = ((FloatVector) sumHigh.convert(VectorOperators.I2F, 0)).fma(d, high);
            mins += KernelVectors.f16(data, block + M) * xs[xBlock];
        }
        FloatVector sum = low.add(high);
        return (sum.lane(0) + sum.lane(2)) + (sum.lane(1) + sum.lane(3)) + mins;
    }

    /** The scalar twin of {@link #dotPrepared}: the same lanes, FMAs and sums, so the same float. */
    static float dotPreparedScalar(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_1, xOffset);
        byte[] xq = x.quants();
        long block = first / BLOCK * BLOCK_BYTES;
        float[] acc = new float[8];
        float mins = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            int xBlock = (xOffset + e) / BLOCK;
            float d = KernelVectors.f16(data, block) * x.scales()[xBlock];
            for (int k = 0; k < 8; k++) {
                int sum = 0;
                for (int j = 4 * k; j < 4 * k + 4; j++) {
                    sum += value(data, block, j) * xq[xOffset + e + j];
                }
                acc[k] = Math.fma((float) sum, d, acc[k]);
            }
            mins += KernelVectors.f16(data, block + M) * x.sums()[xBlock];
        }
        return KernelVectors.sumOfEight(acc) + mins;
    }

    /** The quantized value of element j of the block at {@code block}. */
    private static int value(MemorySegment data, long block, int j) {
        int q = data.get(ValueLayout.JAVA_BYTE, block + QS + (j & 15)) & 0xFF;
        return (j < BLOCK / 2 ? q & 0x0F : q >>> 4);
    }

    static void dequantizeScalar(MemorySegment data, long first, int count, float[] out, int outOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float d = KernelVectors.f16(data, block);
            float m = KernelVectors.f16(data, block + M);
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = data.get(ValueLayout.JAVA_BYTE, block + QS + j) & 0xFF;
                out[outOffset + e + j] = (q & 0x0F) * d + m;
                out[outOffset + e + j + BLOCK / 2] = (q >>> 4) * d + m;
            }
        }
    }

    static float dotScalar(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        float result = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float qx = 0f;
            float xs = 0f;
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = data.get(ValueLayout.JAVA_BYTE, block + QS + j) & 0xFF;
                float x0 = x[xOffset + e + j];
                float x1 = x[xOffset + e + j + BLOCK / 2];
                qx += (q & 0x0F) * x0 + (q >>> 4) * x1;
                xs += x0 + x1;
            }
            result += qx * KernelVectors.f16(data, block) + xs * KernelVectors.f16(data, block + M);
        }
        return result;
    }
}
