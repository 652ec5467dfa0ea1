package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Turns float32 values into the bytes of one GGUF tensor type, bit for bit as ggml's reference code does
 * ({@code quantize_row_*_ref} and its FP16/BF16 conversions), so that files written here match llama.cpp's.
 */
public sealed interface Quantizer permits FloatQuantizer, Q8_0Quantizer, Q4_0Quantizer, Q5_0Quantizer, Q4_KQuantizer,
        Q6_KQuantizer {

    /** The types there is a quantizer for. */
    List<GgmlType> SUPPORTED = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K);

    GgmlType type();

    /**
     * Converts {@code src[srcOffset .. srcOffset + count)} ({@code count} a multiple of the block size) and stores the
     * result little-endian at {@code dst[dstOffset ..]}; returns the number of bytes stored.
     */
    long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset);

    /** The quantizer for {@code type}; IllegalArgumentException if there is none. */
    static Quantizer of(GgmlType type) {
        return switch (type) {
            case F32 -> FloatQuantizer.F32;
            case F16 -> FloatQuantizer.F16;
            case BF16 -> FloatQuantizer.BF16;
            case Q8_0 -> Q8_0Quantizer.INSTANCE;
            case Q4_0 -> Q4_0Quantizer.INSTANCE;
            case Q5_0 -> Q5_0Quantizer.INSTANCE;
            case Q4_K -> Q4_KQuantizer.INSTANCE;
            case Q6_K -> Q6_KQuantizer.INSTANCE;
            default -> throw new IllegalArgumentException("no quantizer for type " + type.name() + " (supported: "
                    + SUPPORTED + ")");
        };
    }

    /** Converts {@code src} whole into a new byte array. */
    default byte[] quantize(float[] src) {
        byte[] out = new byte[Math.toIntExact(type().bytesFor(src.length))];
        quantize(src, 0, src.length, MemorySegment.ofArray(out), 0);
        return out;
    }

    /** Checks the arguments shared by all quantizers. */
    static void checkBlocks(GgmlType type, float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        if (count % type.blockSize() != 0) {
            throw new IllegalArgumentException(type.name() + ": " + count + " values (expected a multiple of the block "
                    + "size " + type.blockSize() + ")");
        }
        java.util.Objects.checkFromIndexSize(srcOffset, count, src.length);
        java.util.Objects.checkFromIndexSize(dstOffset, type.bytesFor(count), dst.byteSize());
    }
}
