package dev.jllm.tensor;

import static dev.jllm.tensor.KernelVectors.FLOATS;
import static dev.jllm.tensor.KernelVectors.FLOAT_LANES;
import static dev.jllm.tensor.KernelVectors.SHORT_LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** bfloat16 (the top 16 bits of a float32), little-endian; widened with a shift inside the dot product. */
final class BF16Kernel implements Kernel {

    static final BF16Kernel INSTANCE = new BF16Kernel();

    /** ggml multiplies BF16 weights with activations rounded to BF16. */
    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.BF16;
    }

    @Override
    public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        long base = first * 2;
        int i = 0;
        for (int upper = FLOATS.loopBound(count); i < upper; i += FLOAT_LANES) {
            KernelVectors.bf16ToFloat(KernelVectors.loadShorts(data, base + i * 2L)).intoArray(out, outOffset + i);
        }
        for (; i < count; i++) {
            out[outOffset + i] = bf16(data.get(SHORT_LE, base + i * 2L));
        }
    }

    @Override
    public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        long base = first * 2;
        int i = 0;
        float result = 0f;
        int upper = FLOATS.loopBound(count);
        if (upper > 0) {
            FloatVector acc = FloatVector.zero(FLOATS);
            for (; i < upper; i += FLOAT_LANES) {
                FloatVector w = KernelVectors.bf16ToFloat(KernelVectors.loadShorts(data, base + i * 2L));
                acc = w.fma(FloatVector.fromArray(FLOATS, x, xOffset + i), acc);
            }
            result = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < count; i++) {
            result += bf16(data.get(SHORT_LE, base + i * 2L)) * x[xOffset + i];
        }
        return result;
    }

    static void dequantizeScalar(MemorySegment data, long first, int count, float[] out, int outOffset) {
        for (int i = 0; i < count; i++) {
            out[outOffset + i] = bf16(data.get(SHORT_LE, (first + i) * 2));
        }
    }

    static float dotScalar(MemorySegment data, long first, int count, float[] x, int xOffset) {
        float sum = 0f;
        for (int i = 0; i < count; i++) {
            sum += bf16(data.get(SHORT_LE, (first + i) * 2)) * x[xOffset + i];
        }
        return sum;
    }

    static float bf16(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }
}
