package dev.jllm.format.llama2c;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.GroupedQ8Type;
import dev.jllm.tensor.Tensor;
import dev.jllm.tensor.TensorType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads llama2.c checkpoints: the legacy header-only {@code .bin} of {@code run.c}, and {@code export.py}'s
 * version 1 (fp32) and version 2 (int8 in groups, as {@code runq.c} reads it). The file is memory-mapped and every
 * tensor is a slice of it; per-layer tensors are slices of llama2.c's stacked arrays. llama2.c keeps the tokenizer in
 * a separate {@code tokenizer.bin}, so {@link ModelFile#tokenizer()} is null.
 */
public final class Llama2cLoader {

    /** llama2.c hard-codes the RoPE base and the RMSNorm epsilon ({@code run.c}). */
    public static final float ROPE_THETA = 10000f;
    public static final float RMS_EPS = 1e-5f;

    private Llama2cLoader() {
    }

    /** Loads a llama2.c checkpoint of any version; the caller closes the returned file to unmap it. */
    public static ModelFile load(Path path) {
        requireRegularFile(path);
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            Llama2cHeader header = Llama2cHeader.parse(path, readStart(channel, size), size);
            // the size first: a header claiming thousands of layers must not cost a tensor list before it is refused
            checkSize(path, header, layout(header, false).size(), size);
            Layout layout = layout(header, true);
            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Slot slot : layout.slots()) {
                tensors.put(slot.name(), new Tensor(slot.name(), slot.type(), slot.shape(),
                        file.asSlice(slot.offset(), slot.type().bytesFor(slot.elements()))));
            }
            return new ModelFile(header.formatName(), path, config(header), tensors, null, metadata(header), arena);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path + ": cannot read llama2.c checkpoint: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Whether the file is a llama2.c checkpoint: an export file by its magic, a legacy file (which has no magic) by a
     * plausible header whose implied size equals the file size exactly.
     */
    public static boolean looksLikeLlama2c(Path path) {
        if (!Files.isRegularFile(path)) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            ByteBuffer start = readStart(channel, size);
            if (Llama2cHeader.hasMagic(start)) {
                return true;
            }
            return layout(Llama2cHeader.parse(path, start, size), false).size() == size;
        } catch (IOException | ModelFormatException e) {
            return false;
        }
    }

    static LlamaConfig config(Llama2cHeader h) {
        return new LlamaConfig(h.dim(), h.layers(), h.heads(), h.kvHeads(), h.hiddenDim(), h.vocabRows(), h.seqLen(),
                h.headDim(), h.headDim(), ROPE_THETA, RMS_EPS, null);
    }

    private static Map<String, Object> metadata(Llama2cHeader h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("llama2c.version", h.version());
        m.put("llama2c.dim", h.dim());
        m.put("llama2c.hidden_dim", h.hiddenDim());
        m.put("llama2c.n_layers", h.layers());
        m.put("llama2c.n_heads", h.heads());
        m.put("llama2c.n_kv_heads", h.kvHeads());
        m.put("llama2c.vocab_size", h.vocabSize());
        m.put("llama2c.seq_len", h.seqLen());
        m.put("llama2c.shared_classifier", h.sharedClassifier());
        if (h.version() == 2) {
            m.put("llama2c.group_size", h.groupSize());
        }
        return m;
    }

    /** One tensor's place in the file. */
    private record Slot(String name, TensorType type, long[] shape, long offset) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** Every tensor in file order, and the file size the header implies. */
    private record Layout(List<Slot> slots, long size) {
    }

    /** Walks the file from the end of the header, placing tensors one after another (or only counting bytes). */
    private static final class Walker {
        private final List<Slot> slots = new ArrayList<>();
        private final boolean withSlots;
        private long offset;

        Walker(long start, boolean withSlots) {
            offset = start;
            this.withSlots = withSlots;
        }

        void add(String name, TensorType type, long... shape) {
            Slot slot = new Slot(name, type, shape, offset);
            if (withSlots) {
                slots.add(slot);
            }
            offset += type.bytesFor(slot.elements());
        }

        /** A stacked array {@code [layers][...]}: one slice per layer, named {@code blk.N.<name>}. */
        void addPerLayer(int layers, String name, TensorType type, long... shape) {
            if (!withSlots) {
                offset += layers * type.bytesFor(new Slot(name, type, shape, offset).elements());
                return;
            }
            for (int l = 0; l < layers; l++) {
                add("blk." + l + "." + name, type, shape);
            }
        }

        void skip(long bytes) {
            offset += bytes;
        }
    }

    /** Every tensor in file order ({@code withSlots}), or only the file size the header implies. */
    private static Layout layout(Llama2cHeader h, boolean withSlots) {
        int dim = h.dim();
        int hidden = h.hiddenDim();
        int layers = h.layers();
        int vocab = h.vocabRows();
        int kvDim = h.kvDim();
        TensorType f32 = GgmlType.F32;
        Walker w = new Walker(h.headerBytes(), withSlots);
        switch (h.version()) {
            case 0 -> {
                // run.c's memory_map_weights
                w.add("token_embd.weight", f32, dim, vocab);
                w.addPerLayer(layers, "attn_norm.weight", f32, dim);
                w.addPerLayer(layers, "attn_q.weight", f32, dim, dim);
                w.addPerLayer(layers, "attn_k.weight", f32, dim, kvDim);
                w.addPerLayer(layers, "attn_v.weight", f32, dim, kvDim);
                w.addPerLayer(layers, "attn_output.weight", f32, dim, dim);
                w.addPerLayer(layers, "ffn_norm.weight", f32, dim);
                w.addPerLayer(layers, "ffn_gate.weight", f32, dim, hidden);
                w.addPerLayer(layers, "ffn_down.weight", f32, hidden, dim);
                w.addPerLayer(layers, "ffn_up.weight", f32, dim, hidden);
                w.add("output_norm.weight", f32, dim);
                // freq_cis_real and freq_cis_imag, seq_len * head_size / 2 floats each: unused, RoPE is computed
                w.skip(2 * ((long) h.seqLen() * h.headDim() / 2) * 4);
                if (!h.sharedClassifier()) {
                    w.add("output.weight", f32, dim, vocab);
                }
            }
            case 1, 2 -> {
                // export.py's version1_export / version2_export: the norms first, in fp32
                w.addPerLayer(layers, "attn_norm.weight", f32, dim);
                w.addPerLayer(layers, "ffn_norm.weight", f32, dim);
                w.add("output_norm.weight", f32, dim);
                TensorType m = h.version() == 1 ? f32 : new GroupedQ8Type(h.groupSize());
                w.add("token_embd.weight", m, dim, vocab);
                w.addPerLayer(layers, "attn_q.weight", m, dim, dim);
                w.addPerLayer(layers, "attn_k.weight", m, dim, kvDim);
                w.addPerLayer(layers, "attn_v.weight", m, dim, kvDim);
                w.addPerLayer(layers, "attn_output.weight", m, dim, dim);
                w.addPerLayer(layers, "ffn_gate.weight", m, dim, hidden);
                w.addPerLayer(layers, "ffn_down.weight", m, hidden, dim);
                w.addPerLayer(layers, "ffn_up.weight", m, dim, hidden);
                if (!h.sharedClassifier()) {
                    w.add("output.weight", m, dim, vocab);
                }
            }
            default -> throw new IllegalStateException("version " + h.version());
        }
        return new Layout(List.copyOf(w.slots), w.offset);
    }

    private static void checkSize(Path path, Llama2cHeader h, long expected, long size) {
        if (size == expected) {
            return;
        }
        String problem = size < expected
                ? "file is truncated: " + size + " bytes, but its " + h.describe() + " implies " + expected + " bytes"
                : "file is " + size + " bytes, " + (size - expected) + " more than the " + expected + " bytes its "
                        + h.describe() + " implies";
        if (h.version() == 0) {
            long classifierBytes = (long) h.vocabRows() * h.dim() * 4;
            long other = h.sharedClassifier() ? expected + classifierBytes : expected - classifierBytes;
            if (size == other) {
                problem += h.sharedClassifier()
                        ? " (the size fits an unshared classifier, which a negative vocab_size would announce)"
                        : " (the size fits a shared classifier, which a positive vocab_size would announce)";
            }
        }
        throw new ModelFormatException(path + ": " + problem);
    }

    private static void requireRegularFile(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file (expected a llama2.c checkpoint)");
        }
        if (!Files.isRegularFile(path)) {
            throw new ModelFormatException(path + ": not a regular file (expected a llama2.c checkpoint)");
        }
    }

    /** The first {@code min(size, 256)} bytes: enough for any header version. */
    private static ByteBuffer readStart(FileChannel channel, long size) throws IOException {
        ByteBuffer start = ByteBuffer.allocate((int) Math.min(size, Llama2cHeader.EXPORT_BYTES));
        while (start.hasRemaining()) {
            if (channel.read(start, start.position()) < 0) {
                throw new IOException("the file ended after " + start.position() + " of " + size + " bytes");
            }
        }
        return start.flip();
    }
}
