package dev.jllm.convert;

import dev.jllm.quant.Quantizer;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Streams a tensor's rows in another type (or as stored, when the type is the same), optionally in another row
 * order. Rows are read through {@link Tensor#rowStart}, so a loader's row-order view is honoured.
 */
public final class TensorRows {

    /** Receives bytes. */
    @FunctionalInterface
    public interface Sink {
        void write(byte[] bytes, int offset, int length) throws IOException;
    }

    private TensorRows() {
    }

    /** The type a tensor is written in when {@code wanted} is asked for: float types always; blocks where rows fit. */
    public static GgmlType typeFor(Tensor t, GgmlType wanted) {
        if (wanted == null) {
            return t.type() instanceof GgmlType g ? g : GgmlType.F32;
        }
        if (t.shape().length < 2 && wanted.blockSize() > 1) {
            return GgmlType.F32; // norms stay exact, as llama.cpp keeps them
        }
        return t.rowLength() % wanted.blockSize() == 0 ? wanted : GgmlType.F32;
    }

    /** Bytes of the tensor in {@code type}. */
    public static long bytes(Tensor t, GgmlType type) {
        return type.bytesFor(t.elementCount());
    }

    /**
     * Writes every row of {@code t} in {@code type}; output row {@code i} is the tensor's logical row
     * {@code order == null ? i : order[i]}.
     */
    public static void write(Tensor t, GgmlType type, int[] order, Sink sink) throws IOException {
        int n = t.rowLength();
        long rows = t.rowCount();
        int rowBytes = Math.toIntExact(type.bytesFor(n));
        byte[] out = new byte[rowBytes];
        MemorySegment outSegment = MemorySegment.ofArray(out);
        boolean raw = t.type() == type;
        Quantizer quantizer = raw ? null : Quantizer.of(type);
        float[] values = raw ? null : new float[n];
        for (long i = 0; i < rows; i++) {
            long row = order == null ? i : order[Math.toIntExact(i)];
            if (raw) {
                long at = t.type().bytesFor(t.rowStart(row));
                MemorySegment.copy(t.data(), at, outSegment, 0, rowBytes);
            } else {
                t.dequantizeRow(row, values, 0);
                quantizer.quantize(values, 0, n, outSegment, 0);
            }
            sink.write(out, 0, rowBytes);
        }
    }
}
