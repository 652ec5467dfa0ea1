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

/** ggml's Q8_0: blocks of 32 values, each an fp16 scale d then 32 int8 q; value = q * d. */
final class Q8_0Kernel implements Kernel {

    static final Q8_0Kernel INSTANCE = new Q8_0Kernel();

    static final int BLOCK = 32;
    static final int BLOCK_BYTES = 34;
    private static final int QS = 2;

    @Override
    public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        dequantizeScalar(data, first, count, out, outOffset);
    }

    @Override
    public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        FloatVector acc = FloatVector.zero(FLOATS);
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float d = KernelVectors.f16(data, block);
            FloatVector sum = FloatVector.zero(FLOATS);
            for (int j = 0; j < BLOCK; j += BYTE_LANES) {
                ByteVector q = ByteVector.fromMemorySegment(BYTES, data, block + QS + j, ByteOrder.LITTLE_ENDIAN);
                for (int p = 0; p < BYTE_PARTS; p++) {
                    FloatVector w = KernelVectors.bytesToFloats(q, p);
                    sum = w.fma(FloatVector.fromArray(FLOATS, x, xOffset + e + j + p * FLOAT_LANES), sum);
                }
            }
            acc = sum.fma(FloatVector.broadcast(FLOATS, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** ggml's vec_dot_type for Q8_0 is Q8_0. */
    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_0;
    }

    /** Per block: (d_w * d_x) * sum(q_w * q_x), the sum in integers, accumulated in float. */
    @Override
    public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, xOffset);
        byte[] xq = x.quants();
        float[] xd = x.scales();
        long block = first / BLOCK * BLOCK_BYTES;
        int xBlock = xOffset / BLOCK;
        FloatVector acc = FloatVector.zero(FLOATS);
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES, xBlock++) {
            IntVector sum = IntVector.zero(KernelVectors.INTS);
            for (int j = 0; j < BLOCK; j += BYTE_LANES) {
                ByteVector w = ByteVector.fromMemorySegment(BYTES, data, block + QS + j, ByteOrder.LITTLE_ENDIAN);
                ByteVector v = ByteVector.fromArray(BYTES, xq, xOffset + e + j);
                for (int p = 0; p < BYTE_PARTS; p++) {
                    sum = sum.add(KernelVectors.bytesToInts(w, p).mul(KernelVectors.bytesToInts(v, p)));
                }
            }
            float d = KernelVectors.f16(data, block) * xd[xBlock];
            acc = KernelVectors.intsToFloats(sum).fma(FloatVector.broadcast(FLOATS, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    static float dotPreparedScalar(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, xOffset);
        byte[] xq = x.quants();
        long block = first / BLOCK * BLOCK_BYTES;
        float result = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            int sum = 0;
            for (int j = 0; j < BLOCK; j++) {
                sum += data.get(ValueLayout.JAVA_BYTE, block + QS + j) * xq[xOffset + e + j];
            }
            result += KernelVectors.f16(data, block) * x.scales()[(xOffset + e) / BLOCK] * sum;
        }
        return result;
    }

    static void dequantizeScalar(MemorySegment data, long first, int count, float[] out, int outOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float d = KernelVectors.f16(data, block);
            for (int j = 0; j < BLOCK; j++) {
                out[outOffset + e + j] = data.get(ValueLayout.JAVA_BYTE, block + QS + j) * d;
            }
        }
    }

    static float dotScalar(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        float result = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float sum = 0f;
            for (int j = 0; j < BLOCK; j++) {
                sum += data.get(ValueLayout.JAVA_BYTE, block + QS + j) * x[xOffset + e + j];
            }
            result += sum * KernelVectors.f16(data, block);
        }
        return result;
    }
}
