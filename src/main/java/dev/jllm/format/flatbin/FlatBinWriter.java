package dev.jllm.format.flatbin;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes any loaded model as a flat FP16 binary (layout in {@link FlatBinLayout}). Every tensor is dequantized a row
 * at a time and rounded to FP16; a shared classifier is written out as a copy of the embedding. The file appears
 * under its final name only once complete: it is written to a temporary file in the same directory and renamed.
 */
public final class FlatBinWriter {

    private static final int BUFFER_BYTES = 1 << 20;

    private FlatBinWriter() {
    }

    public static void write(ModelFile source, Path out) throws IOException {
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

        Path target = out.toAbsolutePath();
        Path temp = target.resolveSibling("." + target.getFileName() + "." + ProcessHandle.current().pid() + "."
                + System.nanoTime() + ".tmp");
        boolean complete = false;
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                layout.writeHeader(buffer);
                for (Tensor t : tensors) {
                    writeTensor(cannot, t, channel, buffer);
                }
                flush(channel, buffer);
                channel.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            complete = true;
        } finally {
            if (!complete) {
                Files.deleteIfExists(temp);
            }
        }
    }

    private static void writeTensor(String cannot, Tensor t, FileChannel channel, ByteBuffer buffer)
            throws IOException {
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
                    flush(channel, buffer);
                }
                buffer.putShort(half);
            }
        }
    }

    private static void flush(FileChannel channel, ByteBuffer buffer) throws IOException {
        buffer.flip();
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
        buffer.clear();
    }
}
