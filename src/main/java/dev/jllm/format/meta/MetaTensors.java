package dev.jllm.format.meta;

import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/** Steps every loader of Meta-named weights shares: renaming to GGUF names and checking the derived sizes. */
public final class MetaTensors {

    private MetaTensors() {
    }

    /**
     * The tensors under their GGUF names (Meta's Q/K row order is GGUF's, so nothing is permuted), without the ones
     * jllm recomputes; a name that is not part of a Llama model is an error.
     */
    public static Map<String, Tensor> renamed(Map<String, Tensor> byMetaName, String where) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : byMetaName.entrySet()) {
            if (MetaNames.isRecomputed(e.getKey())) {
                continue;
            }
            String name = MetaNames.canonical(e.getKey());
            if (name == null) {
                throw notLlama(where, e.getKey());
            }
            Tensor t = e.getValue();
            out.put(name, new Tensor(name, t.type(), t.shape(), t.data(), null));
        }
        if (!out.containsKey("token_embd.weight")) {
            throw new ModelFormatException(where + ": no tok_embeddings.weight");
        }
        return out;
    }

    static ModelFormatException notLlama(String where, String name) {
        return new ModelFormatException(where + ": tensor '" + name + "' is not part of a Llama model (expected"
                + " Meta's names: tok_embeddings.weight, layers.N.attention.wq.weight, ..., norm.weight, output.weight)");
    }

    /** The vocabulary: the parameters', or (when they say -1) the embedding's rows. */
    public static int vocabulary(MetaParams p, Map<String, Tensor> tensors, String where) {
        Tensor embedding = tensors.get("token_embd.weight");
        long rows = embedding.shape().length == 2 ? embedding.shape()[1] : -1;
        if (embedding.shape().length != 2 || embedding.shape()[0] != p.dim()) {
            throw new ModelFormatException(where + ": tok_embeddings.weight has ggml shape " + embedding.shapeString()
                    + ", expected [" + p.dim() + ", vocab_size]");
        }
        if (p.vocabSize() > 0 && rows != p.vocabSize()) {
            throw new ModelFormatException(where + ": tok_embeddings.weight has " + rows + " rows but vocab_size is "
                    + p.vocabSize());
        }
        return Math.toIntExact(rows);
    }

    /** The config, after checking that the feed-forward width Meta's code derives is the one the weights have. */
    public static LlamaConfig config(MetaParams p, Map<String, Tensor> tensors, String where) {
        int vocab = vocabulary(p, tensors, where);
        Tensor gate = tensors.get("blk.0.ffn_gate.weight");
        if (gate != null && gate.shape().length == 2 && gate.shape()[1] != p.feedForwardDim()) {
            throw new ModelFormatException(where + ": layers.0.feed_forward.w1.weight has " + gate.shape()[1]
                    + " rows, but " + p.feedForwardOrigin() + " gives a feed-forward width of " + p.feedForwardDim());
        }
        return p.config(vocab);
    }
}
