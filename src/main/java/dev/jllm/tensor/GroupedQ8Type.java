package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * llama2.c's version-2 export ({@code runq.c}): a tensor of n values is stored as n int8 values followed by
 * n / groupSize float32 scales, one per group. Value i is {@code q[i] * scale[i / groupSize]}.
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

            @Override
            public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
                long scales = elementsIn(data);
                float sum = 0f;
                for (int g = 0; g < count; g += groupSize) {
                    float part = 0f;
                    for (int i = g; i < g + groupSize; i++) {
                        part += data.get(ValueLayout.JAVA_BYTE, first + i) * x[xOffset + i];
                    }
                    sum += part * data.get(FLOAT, scales + (first + g) / groupSize * 4);
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
