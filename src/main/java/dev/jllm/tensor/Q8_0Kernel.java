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

    /**
     * The dot product with prepared activations as ggml's x86 {@code ggml_vec_dot_q8_0_q8_0} computes it (see
     * {@link KernelVectors#LANES4}): the same float, bit for bit.
     */
    @Override
    public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, xOffset);
        int[] lanes = x.lanes();
        float[] xd = x.scales();
        long block = first / BLOCK * BLOCK_BYTES;
        int xBlock = xOffset / BLOCK;
        FloatVector low = FloatVector.zero(KernelVectors.FLOATS4);
        FloatVector high = FloatVector.zero(KernelVectors.FLOATS4);
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES, xBlock++) {
            int at = xOffset + e;
            IntVector wLow = IntVector.fromMemorySegment(KernelVectors.LANES4, data, block + QS, ByteOrder.LITTLE_ENDIAN);
            IntVector wHigh = IntVector.fromMemorySegment(KernelVectors.LANES4, data, block + QS + 16, ByteOrder.LITTLE_ENDIAN);
            IntVector sumLow = IntVector.zero(KernelVectors.LANES4);
            IntVector sumHigh = IntVector.zero(KernelVectors.LANES4);
            for (int t = 0; t < 4; t++) {
                sumLow = sumLow.add(wLow.lanewise(VectorOperators.LSHL, 24 - 8 * t).lanewise(VectorOperators.ASHR, 24)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t)));
                sumHigh = sumHigh.add(wHigh.lanewise(VectorOperators.LSHL, 24 - 8 * t).lanewise(VectorOperators.ASHR, 24)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t + 4)));
            }
            FloatVector d = FloatVector.broadcast(KernelVectors.FLOATS4, KernelVectors.f16(data, block) * xd[xBlock]);
            low = ((FloatVector) sumLow.convert(VectorOperators.I2F, 0)).fma(d, low);
            high = ((FloatVector) sumHigh.convert(VectorOperators.I2F, 0)).fma(d, high);
        }
        FloatVector sum = low.add(high);
        return (sum.lane(0) + sum.lane(2)) + (sum.lane(1) + sum.lane(3));
    }

    /** The scalar twin of {@link #dotPrepared}: the same lanes, FMAs and sums, so the same float. */
    static float dotPreparedScalar(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, xOffset);
        byte[] xq = x.quants();
        long block = first / BLOCK * BLOCK_BYTES;
        float[] acc = new float[8];
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
        }
        return KernelVectors.sumOfEight(acc);
    }

    @Override
    public int rowTile(int batch) {
        return BlockTiles.AVAILABLE ? 16 : 0;
    }

    @Override
    public void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows, PreparedActivations x,
            float[] out) {
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, 0);
        BlockTiles.q8_0(data, cols, rowStart, rowEnd, rows, x, out, BlockTiles.scratch());
    }

    /** The int8 value of element j of the block at {@code block}. */
    private static int value(MemorySegment data, long block, int j) {
        return data.get(ValueLayout.JAVA_BYTE, block + QS + j);
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
