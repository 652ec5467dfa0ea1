package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** F32 (copied), F16 and BF16 (rounded to nearest even): one value per element, no blocks. */
enum FloatQuantizer implements Quantizer {
    F32(GgmlType.F32),
    F16(GgmlType.F16),
    BF16(GgmlType.BF16);

    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final GgmlType type;

    FloatQuantizer(GgmlType type) {
        this.type = type;
    }

    @Override
    public GgmlType type() {
        return type;
    }

    @Override
    public long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        Quantizer.checkBlocks(type, src, srcOffset, count, dst, dstOffset);
        switch (this) {
            case F32 -> MemorySegment.copy(src, srcOffset, dst, FLOAT_LE, dstOffset, count);
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    dst.set(SHORT_LE, dstOffset + 2L * i, Halfs.toF16(src[srcOffset + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    dst.set(SHORT_LE, dstOffset + 2L * i, Halfs.toBF16(src[srcOffset + i]));
                }
            }
        }
        return type.bytesFor(count);
    }
}
