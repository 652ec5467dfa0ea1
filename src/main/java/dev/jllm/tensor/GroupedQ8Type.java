package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * llama2.c's version-2 export ({@code runq.c}): a tensor of n values is stored as n int8 values followed by
 * n / groupSize float32 scales, one per group. Value i is {@code q[i] * scale[i / groupSize]}.
 *
 * <p>Groups follow the flattened tensor, as {@code export.py}'s {@code quantize_q80} makes them
 * ({@code w.reshape(-1, group_size)}), not the rows: when a row's length is not a multiple of the group size (w2 of
 * stories260K, rows of 172 in groups of 64), a group runs across two rows, and the kernel accepts any element offset
 * and count, unlike the block types. ({@code runq.c} itself assumes whole groups per row: on such a row it leaves
 * out the last {@code row % groupSize} values and scales each stretch of 64 by the group the stretch starts in.)
 */
public record GroupedQ8Type(int groupSize) implements TensorType {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public GroupedQ8Type {
        if (groupSize <= 0) {
            throw new IllegalArgumentException("group size must be positive, got " + groupSize);
        }
    }

    @Override
    public String name() {
        return "Q8_G" + groupSize;
    }

    @Override
    public int blockSize() {
        return groupSize;
    }

    @Override
    public long bytesFor(long elements) {
        return elements + elements / groupSize * 4;
    }

    @Override
    public Kernel kernel() {
        return new Kernel() {
            @Override
            public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
                long scales = elementsIn(data);
                for (int i = 0; i < count; i++) {
                    long e = first + i;
                    out[outOffset + i] = data.get(ValueLayout.JAVA_BYTE, e) * data.get(FLOAT, scales + e / groupSize * 4);
                }
            }

            /** Sums each group's stretch of the row, then scales it; a row may start or end inside a group. */
            @Override
            public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
                long scales = elementsIn(data);
                long end = first + count;
                float sum = 0f;
                for (long start = first; start < end; ) {
                    long group = start / groupSize;
                    long stop = Math.min(end, (group + 1) * groupSize);
                    float part = 0f;
                    for (long e = start; e < stop; e++) {
                        part += data.get(ValueLayout.JAVA_BYTE, e) * x[xOffset + (int) (e - first)];
                    }
                    sum += part * data.get(FLOAT, scales + group * 4);
                    start = stop;
                }
                return sum;
            }
        };
    }

    /** The number of values in a tensor segment of this type (the int8 part comes first, then the scales). */
    private long elementsIn(MemorySegment data) {
        return data.byteSize() * groupSize / (groupSize + 4);
    }
}
