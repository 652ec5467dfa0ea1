package dev.jllm.format.flatbin;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.io.OutputFiles;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes any loaded model as a flat FP16 binary (layout in {@link FlatBinLayout}). Every tensor is dequantized a row
 * at a time and rounded to FP16; a shared classifier is written out as a copy of the embedding. The file appears
 * under its final name only once complete ({@link OutputFiles}: a temporary file in the same directory, renamed).
 */
public final class FlatBinWriter {

    private static final int BUFFER_BYTES = 1 << 20;

    private FlatBinWriter() {
    }

    /** Told how far the write has come, in bytes of the file. */
    @FunctionalInterface
    public interface Progress {
        void update(long done, long total);
    }

    public static void write(ModelFile source, Path out) throws IOException {
        write(source, out, null);
    }

    /** Writes the file; {@code progress} (may be null) hears of every megabyte or so. */
    public static void write(ModelFile source, Path out, Progress progress) throws IOException {
        LlamaConfig c = source.config();
        String cannot = source.path() + ": cannot write as flat FP16 " + out + ": ";
        if (c.ropeScaling() != null || source.tensorOrNull("rope_freqs.weight") != null) {
            throw new ModelFormatException(cannot + "the format has no place for RoPE frequency scaling");
        }
        if (c.ropeDim() != c.headDim()) {
            throw new ModelFormatException(cannot + "the format rotates whole heads, but the model's RoPE covers "
                    + c.ropeDim() + " of " + c.headDim() + " dimensions");
        }
        FlatBinLayout layout = new FlatBinLayout(c.dim(), c.layers(), c.heads(), c.kvHeads(), c.vocabSize(),
                c.contextLength(), c.hiddenDim(), c.headDim(), c.ropeTheta());
        layout.validate(source.path());

        // Resolve and check every tensor before creating any file.
        List<FlatBinLayout.Entry> entries = layout.tensors();
        List<Tensor> tensors = new ArrayList<>(entries.size());
        for (FlatBinLayout.Entry e : entries) {
            Tensor t = source.tensorOrNull(e.name());
            if (t == null && e.name().equals("output.weight")) {
                t = source.tensor("token_embd.weight");
            } else if (t == null) {
                t = source.tensor(e.name());
            }
            if (!Arrays.equals(t.shape(), e.shape())) {
                throw new ModelFormatException(cannot + "tensor " + e.name() + " has shape " + t.shapeString()
                        + ", expected " + Arrays.toString(e.shape()));
            }
            tensors.add(t);
        }

        long total = layout.fileSize();
        OutputFiles.writeFile(out, OutputFiles.Links.FOLLOW, channel -> {
            ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            layout.writeHeader(buffer);
            for (Tensor t : tensors) {
                writeTensor(cannot, t, channel, buffer, progress, total);
            }
            flush(channel, buffer, progress, total);
            return null;
        });
    }

    private static void writeTensor(String cannot, Tensor t, FileChannel channel, ByteBuffer buffer, Progress progress,
                                    long total) throws IOException {
        float[] row = new float[t.rowLength()];
        long rows = t.rowCount();
        for (long r = 0; r < rows; r++) {
            t.dequantizeRow(r, row, 0);
            for (float v : row) {
                short half = Float.floatToFloat16(v);
                if (Float.isFinite(v) && !Float.isFinite(Float.float16ToFloat(half))) {
                    throw new ModelFormatException(cannot + "tensor " + t.name() + " row " + r + " holds " + v
                            + ", beyond the FP16 range (max 65504)");
                }
                if (buffer.remaining() < 2) {
                    flush(channel, buffer, progress, total);
                }
                buffer.putShort(half);
            }
        }
    }

    private static void flush(FileChannel channel, ByteBuffer buffer, Progress progress, long total)
            throws IOException {
        buffer.flip();
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
        buffer.clear();
        if (progress != null) {
            progress.update(channel.position(), total);
        }
    }
}
