package dev.jllm.format.meta;

import dev.jllm.format.ModelFile;
import dev.jllm.format.pytorch.PickleWriter;
import dev.jllm.format.pytorch.TorchStorageType;
import dev.jllm.format.pytorch.TorchZipWriter;
import dev.jllm.model.LlamaConfig;
import dev.jllm.quant.Halfs;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a model as Meta's model-parallel shards ({@code consolidated.NN.pth}, one storage per tensor, split as
 * fairscale's layers split them), so tests can make checkpoints of any shard count, embedding split and float type.
 */
final class MetaShardWriter {

    /** Meta name to GGUF name, in the order Meta's state dict lists them. */
    static Map<String, String> names(int layers) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("tok_embeddings.weight", "token_embd.weight");
        String[][] layer = {{"attention.wq.weight", "attn_q.weight"}, {"attention.wk.weight", "attn_k.weight"},
            {"attention.wv.weight", "attn_v.weight"}, {"attention.wo.weight", "attn_output.weight"},
            {"feed_forward.w1.weight", "ffn_gate.weight"}, {"feed_forward.w2.weight", "ffn_down.weight"},
            {"feed_forward.w3.weight", "ffn_up.weight"}, {"attention_norm.weight", "attn_norm.weight"},
            {"ffn_norm.weight", "ffn_norm.weight"}};
        for (int l = 0; l < layers; l++) {
            for (String[] n : layer) {
                m.put("layers." + l + "." + n[0], "blk." + l + "." + n[1]);
            }
        }
        m.put("norm.weight", "output_norm.weight");
        m.put("output.weight", "output.weight");
        return m;
    }

    /**
     * Writes {@code shards} shard files of {@code model} into {@code dir}.
     *
     * @param embeddingAxis 1 as Llama 2's ParallelEmbedding, 0 as Llama 3's VocabParallelEmbedding
     * @param extra         more tensors every shard holds (name to values), e.g. Llama 2's {@code rope.freqs}
     */
    static void write(ModelFile model, Path dir, int shards, int embeddingAxis, TorchStorageType type,
            Map<String, float[]> extra) throws IOException {
        LlamaConfig c = model.config();
        for (int s = 0; s < shards; s++) {
            Map<String, PickleWriter.TensorSpec> specs = new LinkedHashMap<>();
            Map<String, float[]> data = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : names(c.layers()).entrySet()) {
                Tensor t = model.tensorOrNull(e.getValue());
                if (t == null) {
                    t = model.tensor("token_embd.weight"); // a tied output: Meta checkpoints always hold one
                }
                float[] all = t.toFloatArray();
                long cols = t.shape()[0];
                long rows = t.shape().length == 2 ? t.shape()[1] : 1;
                String name = e.getKey();
                int axis = name.endsWith("norm.weight") ? -1
                        : name.equals("tok_embeddings.weight") ? embeddingAxis
                        : name.endsWith("attention.wo.weight") || name.endsWith("feed_forward.w2.weight") ? 1 : 0;
                float[] part;
                long[] size;
                if (axis < 0) {
                    part = all;
                    size = new long[] {cols};
                } else if (axis == 0) {
                    long r = rows / shards;
                    part = java.util.Arrays.copyOfRange(all, (int) (s * r * cols), (int) ((s + 1) * r * cols));
                    size = new long[] {r, cols};
                } else {
                    long k = cols / shards;
                    part = new float[(int) (rows * k)];
                    for (int row = 0; row < rows; row++) {
                        System.arraycopy(all, (int) (row * cols + s * k), part, (int) (row * k), (int) k);
                    }
                    size = new long[] {rows, k};
                }
                String key = String.valueOf(specs.size());
                specs.put(name, PickleWriter.TensorSpec.contiguous(key, type, size));
                data.put(key, part);
            }
            for (Map.Entry<String, float[]> e : extra.entrySet()) {
                String key = String.valueOf(specs.size());
                specs.put(e.getKey(), PickleWriter.TensorSpec.contiguous(key, TorchStorageType.FLOAT,
                        e.getValue().length));
                data.put(key, e.getValue());
            }
            byte[] pickle = new PickleWriter().proto(2).stateDict(specs).stop().bytes();
            String record = String.format("consolidated.%02d", s);
            TorchZipWriter zip = TorchZipWriter.checkpoint(record, pickle);
            for (Map.Entry<String, float[]> e : data.entrySet()) {
                boolean extraTensor = Integer.parseInt(e.getKey()) >= names(c.layers()).size();
                zip.add("data/" + e.getKey(), encode(e.getValue(), extraTensor ? TorchStorageType.FLOAT : type));
            }
            Files.write(dir.resolve(record + ".pth"), zip.toBytes());
        }
    }

    static byte[] encode(float[] values, TorchStorageType type) {
        ByteBuffer b = ByteBuffer.allocate(values.length * type.elementBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (type) {
                case FLOAT -> b.putFloat(v);
                case HALF -> b.putShort(Halfs.toF16(v));
                case BFLOAT16 -> b.putShort(Halfs.toBF16(v));
                default -> throw new IllegalArgumentException(type.toString());
            }
        }
        return b.array();
    }

    static void params(Path dir, String json) throws IOException {
        Files.writeString(dir.resolve("params.json"), json);
    }
}
