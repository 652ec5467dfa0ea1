package dev.jllm.format.pytorch;

import dev.jllm.format.ModelFormatException;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A tensor as {@code torch._utils._rebuild_tensor_v2} describes it: a view of a storage at an element offset, with
 * PyTorch's sizes and strides (row-major: the last dimension varies fastest). The view was checked to lie inside its
 * storage when it was read.
 */
public record TorchTensor(TorchStorage storage, long offset, long[] size, long[] stride) {

    public TorchTensor {
        size = size.clone();
        stride = stride.clone();
    }

    @Override
    public long[] size() {
        return size.clone();
    }

    @Override
    public long[] stride() {
        return stride.clone();
    }

    public int dimensions() {
        return size.length;
    }

    public long size(int dim) {
        return size[dim];
    }

    public long elements() {
        long n = 1;
        for (long d : size) {
            n *= d;
        }
        return n;
    }

    /** The row-major strides of this size. */
    public static long[] contiguousStrides(long[] size) {
        long[] s = new long[size.length];
        long step = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            s[i] = step;
            step *= size[i];
        }
        return s;
    }

    /** Whether the view is the plain row-major layout (dimensions of size 1 may have any stride). */
    public boolean isContiguous() {
        long[] expected = contiguousStrides(size);
        for (int i = 0; i < size.length; i++) {
            if (size[i] != 1 && stride[i] != expected[i]) {
                return false;
            }
        }
        return true;
    }

    /** Whether two tensors are the same view of the same storage (a tied weight saved twice). */
    public boolean sameViewAs(TorchTensor other) {
        return storage == other.storage && offset == other.offset && Arrays.equals(size, other.size)
                && Arrays.equals(stride, other.stride);
    }

    /** The storage's float type, or a one-line error naming the tensor. */
    public GgmlType ggmlType(String where, String name) {
        GgmlType type = storage.type().ggmlType;
        if (type == null) {
            throw new ModelFormatException(where + ": tensor '" + name + "' is held in a torch."
                    + storage.type().className + "; jllm reads float32, float16 and bfloat16 weights");
        }
        return type;
    }

    /**
     * This tensor as a jllm {@link Tensor} (shape in ggml order). A contiguous view is a slice of the mapped entry;
     * any other view is copied explicitly, in row-major order, into memory of {@code arena}.
     */
    public Tensor toTensor(String where, String name, Arena arena) {
        GgmlType type = ggmlType(where, name);
        int bytes = storage.type().elementBytes;
        long[] shape = new long[Math.max(1, size.length)];
        Arrays.fill(shape, 1);
        for (int i = 0; i < size.length; i++) {
            shape[i] = size[size.length - 1 - i];
        }
        MemorySegment data;
        if (isContiguous()) {
            data = storage.data().asSlice(offset * bytes, elements() * bytes);
        } else {
            if (elements() > storage.elements()) {
                throw new ModelFormatException(where + ": tensor '" + name + "' is an expanded view (size "
                        + Arrays.toString(size) + ", stride " + Arrays.toString(stride) + ") of "
                        + storage.elements() + " stored elements; jllm copies a non-contiguous view only when the"
                        + " copy is no larger than its storage");
            }
            data = arena.allocate(elements() * bytes, 64);
            StridedCopy.copy(storage.data(), offset, size, stride, data, 0, contiguousStrides(size), bytes);
        }
        return new Tensor(name, type, shape, data);
    }
}
