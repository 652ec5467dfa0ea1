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
 * ggml's Q4_0: blocks of 32 values, each an fp16 scale d then 16 bytes of nibbles. Byte j holds element j in its
 * low nibble and element j + 16 in its high nibble; value = (q - 8) * d.
 */
final class Q4_0Kernel implements Kernel {

    static final Q4_0Kernel INSTANCE = new Q4_0Kernel();

    /** Q4_0 as ggml's x86 CPU backend multiplies it once repacked eight rows at a time (see {@link #forProduct}). */
    static final Kernel INTERLEAVED = new Interleaved();

    static final int BLOCK = 32;
    static final int BLOCK_BYTES = 18;
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
            for (int j = 0; j < BLOCK / 2; j += BYTE_LANES) {
                ByteVector q = ByteVector.fromMemorySegment(BYTES, data, block + QS + j, ByteOrder.LITTLE_ENDIAN);
                ByteVector low = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector high = q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F).sub((byte) 8);
                for (int p = 0; p < BYTE_PARTS; p++) {
                    int xi = xOffset + e + j + p * FLOAT_LANES;
                    sum = KernelVectors.bytesToFloats(low, p).fma(FloatVector.fromArray(FLOATS, x, xi), sum);
                    sum = KernelVectors.bytesToFloats(high, p).fma(FloatVector.fromArray(FLOATS, x, xi + BLOCK / 2), sum);
                }
            }
            acc = sum.fma(FloatVector.broadcast(FLOATS, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * On x86 with AVX2, ggml's CPU backend repacks a Q4_0 matrix whose row count is a multiple of 8 into blocks of
     * eight interleaved rows ({@code block_q4_0x8}) and multiplies it with {@code ggml_gemv_q4_0_8x8_q8_0} /
     * {@code ggml_gemm_q4_0_8x8_q8_0}, which sum each block whole before one FMA per block: another rounding than
     * {@code ggml_vec_dot_q4_0_q8_0}. Such matrices get {@link #INTERLEAVED}.
     */
    @Override
    public Kernel forProduct(int cols, long rows, int batch) {
        return rows % 8 == 0 ? INTERLEAVED : this;
    }

    /** ggml's vec_dot_type for Q4_0 is Q8_0. */
    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_0;
    }

    /**
     * The dot product with prepared activations as ggml's x86 {@code ggml_vec_dot_q4_0_q8_0} computes it (see
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
            IntVector q = IntVector.fromMemorySegment(KernelVectors.LANES4, data, block + QS, ByteOrder.LITTLE_ENDIAN);
            IntVector lowNibbles = q.and(0x0F0F0F0F);
            IntVector highNibbles = q.lanewise(VectorOperators.LSHR, 4).and(0x0F0F0F0F);
            IntVector sumLow = IntVector.zero(KernelVectors.LANES4);
            IntVector sumHigh = IntVector.zero(KernelVectors.LANES4);
            for (int t = 0; t < 4; t++) {
                sumLow = sumLow.add(lowNibbles.lanewise(VectorOperators.LSHR, 8 * t).and(0xFF).sub(8)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t)));
                sumHigh = sumHigh.add(highNibbles.lanewise(VectorOperators.LSHR, 8 * t).and(0xFF).sub(8)
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

    /**
     * The dot product with prepared activations as ggml's repacked Q4_0 kernels compute it: per block the whole
     * integer sum, then acc = fma(sum, d_w * d_x, acc) from the first block to the last.
     */
    static float dotInterleavedOrder(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, xOffset);
        int[] lanes = x.lanes();
        float[] xd = x.scales();
        long block = first / BLOCK * BLOCK_BYTES;
        int xBlock = xOffset / BLOCK;
        float acc = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES, xBlock++) {
            int at = xOffset + e;
            IntVector q = IntVector.fromMemorySegment(KernelVectors.LANES4, data, block + QS, ByteOrder.LITTLE_ENDIAN);
            IntVector lowNibbles = q.and(0x0F0F0F0F);
            IntVector highNibbles = q.lanewise(VectorOperators.LSHR, 4).and(0x0F0F0F0F);
            IntVector sumLow = IntVector.zero(KernelVectors.LANES4);
            IntVector sumHigh = IntVector.zero(KernelVectors.LANES4);
            for (int t = 0; t < 4; t++) {
                sumLow = sumLow.add(lowNibbles.lanewise(VectorOperators.LSHR, 8 * t).and(0xFF).sub(8)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t)));
                sumHigh = sumHigh.add(highNibbles.lanewise(VectorOperators.LSHR, 8 * t).and(0xFF).sub(8)
                        .mul(IntVector.fromArray(KernelVectors.LANES4, lanes, at + 8 * t + 4)));
            }
            int sum = sumLow.add(sumHigh).reduceLanes(VectorOperators.ADD);
            acc = Math.fma((float) sum, KernelVectors.f16(data, block) * xd[xBlock], acc);
        }
        return acc;
    }

    /** The scalar twin of {@link #dotInterleavedOrder}. */
    static float dotInterleavedOrderScalar(MemorySegment data, long first, int count, PreparedActivations x,
            int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, xOffset);
        byte[] xq = x.quants();
        long block = first / BLOCK * BLOCK_BYTES;
        float acc = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            int sum = 0;
            for (int j = 0; j < BLOCK; j++) {
                sum += value(data, block, j) * xq[xOffset + e + j];
            }
            acc = Math.fma((float) sum, KernelVectors.f16(data, block) * x.scales()[(xOffset + e) / BLOCK], acc);
        }
        return acc;
    }

    /** Q4_0 with the summation order of ggml's repacked (8x8 interleaved) kernels; all else as Q4_0. */
    private static final class Interleaved extends ReorderedKernel {

        Interleaved() {
            super(INSTANCE);
        }

        @Override
        public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
            return dotInterleavedOrder(data, first, count, x, xOffset);
        }

        @Override
        public int rowTile(int batch) {
            if (!BlockTiles.AVAILABLE) {
                return 0;
            }
            return batch == 1 ? BlockTiles.DECODE_ROWS : BlockTiles.BATCH_ROWS;
        }

        @Override
        public void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
                PreparedActivations x, float[] out) {
            KernelVectors.checkPrepared(x, ActivationFormat.Q8_0, 0);
            BlockTiles.q4_0Interleaved(data, cols, rowStart, rowEnd, rows, x, out, BlockTiles.scratch());
        }
    }

    /** The quantized value of element j of the block at {@code block}, minus 8. */
    private static int value(MemorySegment data, long block, int j) {
        int q = data.get(ValueLayout.JAVA_BYTE, block + QS + (j & 15)) & 0xFF;
        return (j < BLOCK / 2 ? q & 0x0F : q >>> 4) - 8;
    }

    static void dequantizeScalar(MemorySegment data, long first, int count, float[] out, int outOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float d = KernelVectors.f16(data, block);
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = data.get(ValueLayout.JAVA_BYTE, block + QS + j) & 0xFF;
                out[outOffset + e + j] = ((q & 0x0F) - 8) * d;
                out[outOffset + e + j + BLOCK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    static float dotScalar(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, BLOCK);
        long block = first / BLOCK * BLOCK_BYTES;
        float result = 0f;
        for (int e = 0; e < count; e += BLOCK, block += BLOCK_BYTES) {
            float sum = 0f;
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = data.get(ValueLayout.JAVA_BYTE, block + QS + j) & 0xFF;
                sum += ((q & 0x0F) - 8) * x[xOffset + e + j] + ((q >>> 4) - 8) * x[xOffset + e + j + BLOCK / 2];
            }
            result += sum * KernelVectors.f16(data, block);
        }
        return result;
    }
}
