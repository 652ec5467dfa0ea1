package dev.jllm.format.meta;

import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tensor names of Meta's original Llama code (also llama2.c's {@code model.py} and lumi's files), their GGUF
 * names, and how Meta's model-parallel layers split each one across shards.
 */
public final class MetaNames {

    /** How a weight is divided among model-parallel shards (fairscale's layers in Meta's {@code model.py}). */
    public enum Split {
        /** Norms: every shard holds the whole vector. */
        REPLICATED,
        /** ColumnParallelLinear (wq, wk, wv, w1, w3, output): each shard holds some output rows (dim 0). */
        ROWS,
        /** RowParallelLinear (wo, w2): each shard holds some input columns (dim 1). */
        COLUMNS,
        /**
         * The token embedding: ParallelEmbedding (Llama 2) splits the embedding width (dim 1), VocabParallelEmbedding
         * (Llama 3) the vocabulary (dim 0); the shapes tell which.
         */
        EMBEDDING
    }

    /** Tensors a checkpoint may hold that jllm recomputes: RoPE frequencies (Llama 1/2's {@code rope.freqs}). */
    static final Set<String> RECOMPUTED = Set.of("rope.freqs", "freqs_cos", "freqs_sin");

    private static final Pattern LAYER = Pattern.compile("layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "attention_norm.weight", "attn_norm.weight",
            "attention.wq.weight", "attn_q.weight",
            "attention.wk.weight", "attn_k.weight",
            "attention.wv.weight", "attn_v.weight",
            "attention.wo.weight", "attn_output.weight",
            "ffn_norm.weight", "ffn_norm.weight",
            "feed_forward.w1.weight", "ffn_gate.weight",
            "feed_forward.w2.weight", "ffn_down.weight",
            "feed_forward.w3.weight", "ffn_up.weight");

    private MetaNames() {
    }

    /** The GGUF name of a Meta tensor name, or null when it is not part of a Llama model. */
    public static String canonical(String name) {
        switch (name) {
            case "tok_embeddings.weight":
                return "token_embd.weight";
            case "norm.weight":
                return "output_norm.weight";
            case "output.weight":
                return "output.weight";
            default:
                break;
        }
        Matcher m = LAYER.matcher(name);
        if (m.matches() && m.group(1).length() <= 6) {
            String suffix = LAYER_NAMES.get(m.group(2));
            if (suffix != null) {
                return "blk." + Integer.parseInt(m.group(1)) + "." + suffix;
            }
        }
        return null;
    }

    /** Whether jllm reads past this tensor (it recomputes it). */
    public static boolean isRecomputed(String name) {
        return RECOMPUTED.contains(name);
    }

    /** How Meta's model-parallel code splits the tensor (a name {@link #canonical} accepts). */
    public static Split split(String name) {
        if (name.equals("tok_embeddings.weight")) {
            return Split.EMBEDDING;
        }
        if (name.endsWith("norm.weight")) {
            return Split.REPLICATED;
        }
        if (name.endsWith(".attention.wo.weight") || name.endsWith(".feed_forward.w2.weight")) {
            return Split.COLUMNS;
        }
        return Split.ROWS;
    }
}
