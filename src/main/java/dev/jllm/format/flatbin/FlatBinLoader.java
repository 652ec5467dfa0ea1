package dev.jllm.format.flatbin;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the flat FP16 binary of simple C inference programs (layout in {@link FlatBinLayout}). The file is
 * memory-mapped and every tensor is an {@link GgmlType#F16} slice of it. The format has no tokenizer and no RMSNorm
 * epsilon; {@link #RMS_EPS} is assumed.
 */
public final class FlatBinLoader {

    /** The RMSNorm epsilon the format does not store (Llama 2 and 3 use this value). */
    public static final float RMS_EPS = 1e-5f;

    private FlatBinLoader() {
    }

    /** Loads a flat FP16 file; the caller closes the returned file to unmap it. */
    public static ModelFile load(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file (expected a flat FP16 model file)");
        }
        if (!Files.isRegularFile(path)) {
            throw new ModelFormatException(path + ": not a regular file (expected a flat FP16 model file)");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < FlatBinLayout.HEADER_BYTES) {
                throw new ModelFormatException(path + ": file is truncated: " + size + " bytes, shorter than the "
                        + FlatBinLayout.HEADER_BYTES + "-byte flat FP16 header");
            }
            FlatBinLayout layout = FlatBinLayout.parse(path, readHeader(channel));
            long expected = layout.fileSize();
            if (size != expected) {
                throw new ModelFormatException(path + ": " + (size < expected
                        ? "file is truncated: " + size + " bytes, but its "
                        : "file is " + size + " bytes, " + (size - expected) + " more than its ")
                        + layout.describe() + " implies " + expected + " bytes (36 + 2 per weight)");
            }
            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            long offset = FlatBinLayout.HEADER_BYTES;
            for (FlatBinLayout.Entry e : layout.tensors()) {
                long bytes = GgmlType.F16.bytesFor(e.elements());
                tensors.put(e.name(), new Tensor(e.name(), GgmlType.F16, e.shape(), file.asSlice(offset, bytes)));
                offset += bytes;
            }
            return new ModelFile("flat FP16", path, config(layout), tensors, null, metadata(layout), arena);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path + ": cannot read flat FP16 model file: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Whether the file is a flat FP16 binary: a plausible header whose implied size equals the file size exactly. */
    public static boolean looksLikeFlatBin(Path path) {
        if (!Files.isRegularFile(path)) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            return size >= FlatBinLayout.HEADER_BYTES
                    && FlatBinLayout.parse(path, readHeader(channel)).fileSize() == size;
        } catch (IOException | ModelFormatException e) {
            return false;
        }
    }

    private static LlamaConfig config(FlatBinLayout h) {
        return new LlamaConfig(h.dim(), h.layers(), h.heads(), h.kvHeads(), h.hiddenDim(), h.vocabSize(),
                h.maxSeqLen(), h.headDim(), h.headDim(), h.ropeTheta(), RMS_EPS, null);
    }

    private static Map<String, Object> metadata(FlatBinLayout h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("flatbin.dim", h.dim());
        m.put("flatbin.n_layers", h.layers());
        m.put("flatbin.n_heads", h.heads());
        m.put("flatbin.n_kv_heads", h.kvHeads());
        m.put("flatbin.vocab_size", h.vocabSize());
        m.put("flatbin.max_seq_len", h.maxSeqLen());
        m.put("flatbin.hidden_dim", h.hiddenDim());
        m.put("flatbin.head_dim", h.headDim());
        m.put("flatbin.rope_theta", h.ropeTheta());
        return m;
    }

    private static ByteBuffer readHeader(FileChannel channel) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(FlatBinLayout.HEADER_BYTES);
        while (header.hasRemaining()) {
            if (channel.read(header, header.position()) < 0) {
                throw new IOException("the file ended inside the " + FlatBinLayout.HEADER_BYTES + "-byte header");
            }
        }
        return header.flip();
    }
}
