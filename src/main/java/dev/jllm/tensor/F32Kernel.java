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

    /** The product of a matrix times two or more vectors, as llamafile's tinyBLAS sums it (see {@link #forProduct}). */
    static final Kernel TILED = new ReorderedKernel(INSTANCE) {
        @Override
        public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
            checkFormat(x);
            return FloatDotOrder.tiled(data, first, count, x.floats(), xOffset, false);
        }
    };

    /**
     * ggml multiplies a F32 matrix with {@code ggml_vec_dot_f32} for one vector, and with llamafile's tinyBLAS for
     * two or more when the row length is a multiple of the vector width; they sum in different orders.
     */
    @Override
    public Kernel forProduct(int cols, long rows, int batch) {
        return batch >= 2 && cols % KernelVectors.FLOAT_LANES == 0 ? TILED : this;
    }

    /** As {@code ggml_vec_dot_f32} sums (see {@link FloatDotOrder#vecDot}). */
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
            result = acc.reduceLanes(VectorOperators.ADD);
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
