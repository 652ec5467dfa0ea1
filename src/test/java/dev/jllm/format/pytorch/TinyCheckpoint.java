package dev.jllm.format.pytorch;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A tiny Llama (dim 8, one layer, 2 heads, vocabulary 16, hidden 24 = Meta's width for dim 8 and multiple_of 4) as a
 * llama2.c training checkpoint, written by the tests: the valid file every hostile variant starts from.
 */
public final class TinyCheckpoint {

    public static final int DIM = 8;
    public static final int HIDDEN = 24;
    public static final int VOCAB = 16;

    private TinyCheckpoint() {
    }

    /** Meta names and PyTorch sizes, in state-dict order. */
    public static Map<String, long[]> sizes() {
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("tok_embeddings.weight", new long[] {VOCAB, DIM});
        m.put("layers.0.attention.wq.weight", new long[] {DIM, DIM});
        m.put("layers.0.attention.wk.weight", new long[] {DIM, DIM});
        m.put("layers.0.attention.wv.weight", new long[] {DIM, DIM});
        m.put("layers.0.attention.wo.weight", new long[] {DIM, DIM});
        m.put("layers.0.feed_forward.w1.weight", new long[] {HIDDEN, DIM});
        m.put("layers.0.feed_forward.w2.weight", new long[] {DIM, HIDDEN});
        m.put("layers.0.feed_forward.w3.weight", new long[] {HIDDEN, DIM});
        m.put("layers.0.attention_norm.weight", new long[] {DIM});
        m.put("layers.0.ffn_norm.weight", new long[] {DIM});
        m.put("norm.weight", new long[] {DIM});
        m.put("output.weight", new long[] {VOCAB, DIM});
        return m;
    }

    /** Deterministic values for a tensor (different per tensor and position). */
    public static float[] values(int tensorIndex, long count) {
        float[] v = new float[(int) count];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.sin(0.37 * i + 1.3 * tensorIndex) * 0.1f;
        }
        return v;
    }

    /** The tensor specs: one storage per tensor, key = its index. */
    public static Map<String, PickleWriter.TensorSpec> specs() {
        Map<String, PickleWriter.TensorSpec> specs = new LinkedHashMap<>();
        int i = 0;
        for (Map.Entry<String, long[]> e : sizes().entrySet()) {
            specs.put(e.getKey(), PickleWriter.TensorSpec.contiguous(String.valueOf(i++), TorchStorageType.FLOAT,
                    e.getValue()));
        }
        return specs;
    }

    public static Map<String, Object> modelArgs() {
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("dim", DIM);
        args.put("n_layers", 1);
        args.put("n_heads", 2);
        args.put("n_kv_heads", 2);
        args.put("vocab_size", VOCAB);
        args.put("multiple_of", 4);
        args.put("max_seq_len", 32);
        args.put("dropout", 0.0);
        return args;
    }

    /** The pickle of {@code {"model": state_dict, "model_args": {...}}} for these specs. */
    public static byte[] pickle(Map<String, PickleWriter.TensorSpec> specs) {
        PickleWriter p = new PickleWriter().proto(2).emptyDict().mark();
        p.string("model").stateDict(specs);
        p.string("model_args").plainDict(modelArgs());
        return p.setItems().stop().bytes();
    }

    /** The archive with this pickle and one float storage per tensor of {@link #specs()}, lies as given. */
    public static TorchZipWriter zip(byte[] pickle, TorchZipWriter.Lie storageLie) {
        TorchZipWriter zip = TorchZipWriter.checkpoint("tiny", pickle);
        int i = 0;
        for (long[] size : sizes().values()) {
            long n = 1;
            for (long d : size) {
                n *= d;
            }
            float[] v = values(i, n);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(v.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                b.putFloat(f);
            }
            zip.add("data/" + i, b.array(), i == 10 ? storageLie : TorchZipWriter.Lie.NONE);
            i++;
        }
        return zip;
    }

    /** The valid file. */
    public static byte[] bytes() {
        return zip(pickle(specs()), TorchZipWriter.Lie.NONE).toBytes();
    }
}
