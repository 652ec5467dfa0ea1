package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Plain little-endian float32. */
final class F32Kernel implements Kernel {

    static final F32Kernel INSTANCE = new F32Kernel();

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * As {@code ggml_vec_dot_f32} sums (see {@link FloatDotOrder#vecDot}), whatever the batch: ggml multiplies two or
     * more vectors with llamafile's tinyBLAS instead (another order), but one order for every batch keeps batched
     * and token-at-a-time prefill giving the same logits, and decoding (one vector) is where most logits come from.
     */
    @Override
    public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        checkFormat(x);
        return FloatDotOrder.vecDot(data, first, count, x.floats(), xOffset, false);
    }

    private static void checkFormat(PreparedActivations x) {
        if (x.format() != ActivationFormat.F32) {
            throw new IllegalArgumentException("activations prepared as " + x.format() + ", expected F32");
        }
    }

    @Override
    public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        MemorySegment.copy(data, FLOAT, first * 4, out, outOffset, count);
    }

    @Override
    public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        long base = first * 4;
        int i = 0;
        float result = 0f;
        if (count >= SPECIES.length()) {
            FloatVector acc = FloatVector.zero(SPECIES);
            int upper = SPECIES.loopBound(count);
            for (; i < upper; i += SPECIES.length()) {
                FloatVector w = FloatVector.fromMemorySegment(SPECIES, data, base + i * 4L, ByteOrder.LITTLE_ENDIAN);
                FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + i);
                acc = w.fma(v, acc);
            }
            result = KernelVectors.sum(acc);
        }
        for (; i < count; i++) {
            result += data.get(FLOAT, base + i * 4L) * x[xOffset + i];
        }
        return result;
    }

    static float dotScalar(MemorySegment data, long first, int count, float[] x, int xOffset) {
        float sum = 0f;
        for (int i = 0; i < count; i++) {
            sum += data.get(FLOAT, (first + i) * 4) * x[xOffset + i];
        }
        return sum;
    }
}
