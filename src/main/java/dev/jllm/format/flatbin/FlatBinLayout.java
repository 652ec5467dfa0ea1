package dev.jllm.format.flatbin;

import dev.jllm.format.ModelFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The flat FP16 binary: a 36-byte little-endian header, then every weight as contiguous FP16 in a fixed order.
 * Loader and writer both take the tensor order from {@link #tensors()}.
 *
 * <pre>
 * int32 dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len, hidden_dim, head_dim; float32 rope_theta
 * token_embd; per layer: attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down;
 * output_norm; output (always present)
 * </pre>
 */
record FlatBinLayout(int dim, int layers, int heads, int kvHeads, int vocabSize, int maxSeqLen, int hiddenDim,
        int headDim, float ropeTheta) {

    static final int HEADER_BYTES = 36;
    static final int BYTES_PER_VALUE = 2;

    // Bounds that no real model comes near; they keep every size computation far from long overflow.
    static final int MAX_WIDTH = 1 << 20;
    static final int MAX_LAYERS = 1 << 12;
    static final int MAX_VOCAB = 1 << 24;
    static final int MAX_SEQ_LEN = 1 << 24;

    /** A tensor's name and shape (ggml order), in file order. */
    record Entry(String name, long[] shape) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    int qDim() {
        return heads * headDim;
    }

    int kvDim() {
        return kvHeads * headDim;
    }

    List<Entry> tensors() {
        List<Entry> list = new ArrayList<>();
        list.add(new Entry("token_embd.weight", new long[] {dim, vocabSize}));
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            list.add(new Entry(p + "attn_norm.weight", new long[] {dim}));
            list.add(new Entry(p + "attn_q.weight", new long[] {dim, qDim()}));
            list.add(new Entry(p + "attn_k.weight", new long[] {dim, kvDim()}));
            list.add(new Entry(p + "attn_v.weight", new long[] {dim, kvDim()}));
            list.add(new Entry(p + "attn_output.weight", new long[] {qDim(), dim}));
            list.add(new Entry(p + "ffn_norm.weight", new long[] {dim}));
            list.add(new Entry(p + "ffn_gate.weight", new long[] {dim, hiddenDim}));
            list.add(new Entry(p + "ffn_up.weight", new long[] {dim, hiddenDim}));
            list.add(new Entry(p + "ffn_down.weight", new long[] {hiddenDim, dim}));
        }
        list.add(new Entry("output_norm.weight", new long[] {dim}));
        list.add(new Entry("output.weight", new long[] {dim, vocabSize}));
        return list;
    }

    /**
     * The exact file size this header implies: the sizes of {@link #tensors()}, counted without building the list (a
     * header claiming thousands of layers must not cost a tensor list before the file's size refuses it).
     */
    long fileSize() {
        long perLayer = 2L * dim + 2L * dim * qDim() + 2L * dim * kvDim() + 3L * dim * hiddenDim;
        long values = 2L * dim * vocabSize + dim + layers * perLayer;
        return HEADER_BYTES + BYTES_PER_VALUE * values;
    }

    String describe() {
        return "flat FP16 header (dim " + dim + ", n_layers " + layers + ", n_heads " + heads + ", n_kv_heads " + kvHeads
                + ", vocab_size " + vocabSize + ", max_seq_len " + maxSeqLen + ", hidden_dim " + hiddenDim
                + ", head_dim " + headDim + ", rope_theta " + ropeTheta + ")";
    }

    static FlatBinLayout parse(Path path, ByteBuffer header) {
        ByteBuffer b = header.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        FlatBinLayout layout = new FlatBinLayout(b.getInt(0), b.getInt(4), b.getInt(8), b.getInt(12), b.getInt(16),
                b.getInt(20), b.getInt(24), b.getInt(28), b.getFloat(32));
        layout.validate(path);
        return layout;
    }

    void writeHeader(ByteBuffer out) {
        ByteBuffer b = out.order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(dim).putInt(layers).putInt(heads).putInt(kvHeads).putInt(vocabSize).putInt(maxSeqLen)
                .putInt(hiddenDim).putInt(headDim).putFloat(ropeTheta);
    }

    /** Throws naming {@code path} unless every field is plausible. */
    void validate(Path path) {
        checkRange(path, "dim", dim, MAX_WIDTH);
        checkRange(path, "n_layers", layers, MAX_LAYERS);
        checkRange(path, "n_heads", heads, MAX_WIDTH);
        checkRange(path, "n_kv_heads", kvHeads, heads);
        checkRange(path, "vocab_size", vocabSize, MAX_VOCAB);
        checkRange(path, "max_seq_len", maxSeqLen, MAX_SEQ_LEN);
        checkRange(path, "hidden_dim", hiddenDim, MAX_WIDTH);
        checkRange(path, "head_dim", headDim, MAX_WIDTH);
        if (heads % kvHeads != 0) {
            throw bad(path, "n_heads " + heads + " is not divisible by n_kv_heads " + kvHeads);
        }
        if (headDim % 2 != 0) {
            throw bad(path, "head_dim " + headDim + " is odd (RoPE rotates pairs; expected even)");
        }
        if ((long) heads * headDim > MAX_WIDTH) {
            throw bad(path, "n_heads * head_dim = " + (long) heads * headDim + " is out of range (expected at most "
                    + MAX_WIDTH + ")");
        }
        if (!(ropeTheta > 0f) || Float.isInfinite(ropeTheta)) {
            throw bad(path, "rope_theta = " + ropeTheta + " (expected a positive finite number)");
        }
    }

    private static void checkRange(Path path, String field, int value, int max) {
        if (value < 1 || value > max) {
            throw bad(path, field + " = " + value + " is out of range (expected 1.." + max + ")");
        }
    }

    private static ModelFormatException bad(Path path, String what) {
        return new ModelFormatException(path + ": invalid flat FP16 header: " + what);
    }
}
