package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * A kernel that is another kernel in all but the summation order of {@link #dotPrepared}: what
 * {@link Kernel#forProduct} returns where ggml multiplies some shapes with another kernel.
 */
abstract class ReorderedKernel implements Kernel {

    private final Kernel base;

    ReorderedKernel(Kernel base) {
        this.base = base;
    }

    @Override
    public final void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        base.dequantize(data, first, count, out, outOffset);
    }

    @Override
    public final float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        return base.dot(data, first, count, x, xOffset);
    }

    @Override
    public final ActivationFormat activationFormat() {
        return base.activationFormat();
    }

    @Override
    public abstract float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset);
}
