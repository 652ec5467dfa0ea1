package dev.jllm.format.gguf;

import dev.jllm.tensor.GgmlType;
import java.util.Arrays;

/**
 * One tensor as the GGUF header describes it.
 *
 * @param name   the tensor's name, e.g. {@code blk.0.attn_q.weight}
 * @param shape  dimensions in ggml order ({@code shape[0]} values per row)
 * @param type   the ggml type (may be one jllm has no kernel for)
 * @param offset byte offset from the start of the data section
 * @param bytes  bytes of data, as the type and shape imply
 */
public record GgufTensorInfo(String name, long[] shape, GgmlType type, long offset, long bytes) {

    public GgufTensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return name + " " + type.name() + " " + Arrays.toString(shape) + " @" + offset;
    }
}
