package dev.jllm.format.meta;

import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hyper-parameters of Meta's {@code ModelArgs}, as {@code params.json} or a training checkpoint's
 * {@code model_args} give them, with the sizes Meta's code derives from them.
 *
 * @param vocabSize        -1 when the file leaves it to the tokenizer (Llama 2's params.json)
 * @param ffnDimMultiplier null when absent
 * @param hiddenDim        an explicit feed-forward width (llama2.c's {@code hidden_dim}), or 0 to derive it
 * @param maxSeqLen        0 when absent
 * @param ropeScalingFactor and {@code ropeHighFreqFactor}: Llama 3.1 scaling parameters when the file names them
 *                          (0 when absent: Meta's Llama 3 code uses 8 and 4)
 */
public record MetaParams(int dim, int layers, int heads, int kvHeads, int vocabSize, int multipleOf,
        Double ffnDimMultiplier, int hiddenDim, float normEps, float ropeTheta, boolean useScaledRope,
        float ropeScalingFactor, float ropeHighFreqFactor, int maxSeqLen) {

    private static final int MAX_WIDTH = 1 << 20;
    private static final int MAX_LAYERS = 1 << 12;
    private static final int MAX_VOCAB = 1 << 24;
    private static final int MAX_CONTEXT = 1 << 24;

    /** The feed-forward width as Meta's {@code FeedForward} computes it from the model width. */
    public static int metaHiddenDim(int dim, int multipleOf, Double ffnDimMultiplier) {
        long hidden = 4L * dim;
        hidden = (long) (2 * hidden / 3.0);
        if (ffnDimMultiplier != null) {
            hidden = (long) (ffnDimMultiplier * hidden);
        }
        return Math.toIntExact(multipleOf * ((hidden + multipleOf - 1) / multipleOf));
    }

    /** The feed-forward width: the explicit one, else Meta's formula. */
    public int feedForwardDim() {
        return hiddenDim > 0 ? hiddenDim : metaHiddenDim(dim, multipleOf, ffnDimMultiplier);
    }

    /** How the feed-forward width was found, for messages. */
    String feedForwardOrigin() {
        return hiddenDim > 0 ? "hidden_dim " + hiddenDim
                : "dim " + dim + ", multiple_of " + multipleOf
                        + (ffnDimMultiplier != null ? ", ffn_dim_multiplier " + ffnDimMultiplier : "")
                        + " (Meta's FeedForward: 2/3 of 4*dim, times the multiplier, rounded up)";
    }

    /**
     * The trained context when the file does not give {@code max_seq_len} (Meta's params.json does not): Llama 3.1
     * and later (scaled RoPE) 131072, Llama 3 (rope_theta 500000) 8192, otherwise Llama 2's 4096.
     */
    public int contextLength() {
        if (maxSeqLen > 0) {
            return maxSeqLen;
        }
        if (useScaledRope) {
            return 131072;
        }
        return ropeTheta >= 500000f ? 8192 : 4096;
    }

    /** Llama 3.1 RoPE scaling as Meta's {@code apply_scaling} does it, or null. */
    public LlamaConfig.RopeScaling ropeScaling() {
        if (!useScaledRope) {
            return null;
        }
        return new LlamaConfig.RopeScaling(ropeScalingFactor > 0 ? ropeScalingFactor : 8f, 1f,
                ropeHighFreqFactor > 0 ? ropeHighFreqFactor : 4f, 8192);
    }

    public LlamaConfig config(int vocab) {
        int headDim = dim / heads;
        return new LlamaConfig(dim, layers, heads, kvHeads, feedForwardDim(), vocab, contextLength(), headDim, headDim,
                ropeTheta, normEps, ropeScaling());
    }

    /**
     * Reads the parameters from a map of Python values (Long, Double, Boolean, String, null).
     *
     * @param where how error messages name the source (a params.json, or a checkpoint's model_args)
     */
    public static MetaParams from(Map<String, ?> values, String where) {
        int dim = integer(values, "dim", where, -1, MAX_WIDTH);
        int layers = integer(values, "n_layers", where, -1, MAX_LAYERS);
        int heads = integer(values, "n_heads", where, -1, dim);
        int kvHeads = integer(values, "n_kv_heads", where, heads, heads);
        int vocab = values.get("vocab_size") instanceof Number n && n.longValue() == -1 ? -1
                : integer(values, "vocab_size", where, -1, MAX_VOCAB);
        int multipleOf = integer(values, "multiple_of", where, 256, MAX_WIDTH);
        int hidden = integer(values, "hidden_dim", where, 0, MAX_WIDTH);
        int maxSeqLen = integer(values, "max_seq_len", where, 0, MAX_CONTEXT);
        Double multiplier = null;
        if (values.get("ffn_dim_multiplier") != null) {
            multiplier = number(values, "ffn_dim_multiplier", where, 0);
            if (!(multiplier > 0 && multiplier <= 64)) {
                throw new ModelFormatException(where + ": ffn_dim_multiplier " + multiplier
                        + " is out of range (expected above 0, at most 64)");
            }
        }
        float normEps = (float) number(values, "norm_eps", where, 1e-5);
        float theta = (float) number(values, "rope_theta", where, 10000.0);
        Object scaled = values.get("use_scaled_rope");
        if (scaled != null && !(scaled instanceof Boolean)) {
            throw new ModelFormatException(where + ": use_scaled_rope is " + scaled + " (expected true or false)");
        }
        float scaling = (float) number(values, "rope_scaling_factor", where, 0);
        float highFreq = (float) number(values, "rope_high_freq_factor", where, 0);
        if (dim % heads != 0) {
            throw new ModelFormatException(where + ": dim " + dim + " is not a multiple of n_heads " + heads);
        }
        if (heads % kvHeads != 0 || (dim / heads) % 2 != 0) {
            throw new ModelFormatException(where + ": n_heads " + heads + ", n_kv_heads " + kvHeads + ", head size "
                    + dim / heads + " (expected n_heads a multiple of n_kv_heads and an even head size)");
        }
        // as floats: 1e48 is a JSON number but an infinite float
        if (!(normEps > 0) || !Float.isFinite(normEps) || !(theta > 0) || !Float.isFinite(theta) || scaling < 0
                || !Float.isFinite(scaling) || highFreq < 0 || !Float.isFinite(highFreq)) {
            throw new ModelFormatException(where + ": norm_eps " + normEps + ", rope_theta " + theta
                    + ", rope_scaling_factor " + scaling + ", rope_high_freq_factor " + highFreq
                    + " (expected positive numbers that fit a float; the factors may be 0 for none)");
        }
        if (hidden == 0 && (long) metaHiddenDim(dim, multipleOf, multiplier) > MAX_WIDTH) {
            throw new ModelFormatException(where + ": the feed-forward width derived from dim " + dim
                    + " is out of range");
        }
        return new MetaParams(dim, layers, heads, kvHeads, vocab, multipleOf, multiplier, hidden, normEps, theta,
                Boolean.TRUE.equals(scaled), scaling, highFreq, maxSeqLen);
    }

    /** The parameters as metadata entries ({@code prefix + key}), for {@code inspect --metadata}. */
    static Map<String, Object> metadata(String prefix, Map<String, ?> values) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Map.Entry<String, ?> e : values.entrySet()) {
            Object v = e.getValue();
            if (v == null || v instanceof Number || v instanceof Boolean || v instanceof String) {
                m.put(prefix + e.getKey(), v instanceof String s && s.length() > 200 ? s.substring(0, 200) : v);
            }
        }
        return m;
    }

    /** An integer parameter; {@code fallback} when absent or None (-1: required). */
    private static int integer(Map<String, ?> values, String key, String where, int fallback, int max) {
        Object v = values.get(key);
        if (v == null) {
            if (fallback < 0) {
                throw new ModelFormatException(where + ": no '" + key + "'");
            }
            return fallback;
        }
        long n;
        if (v instanceof Long l) {
            n = l;
        } else if (v instanceof Integer i) {
            n = i;
        } else {
            throw new ModelFormatException(where + ": '" + key + "' is " + v + " (expected an integer)");
        }
        if (n < 1 || n > max) {
            throw new ModelFormatException(where + ": '" + key + "' is " + n + " (expected 1.." + max + ")");
        }
        return (int) n;
    }

    private static double number(Map<String, ?> values, String key, String where, double fallback) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n) || v instanceof Boolean) {
            throw new ModelFormatException(where + ": '" + key + "' is " + v + " (expected a number)");
        }
        double d = n.doubleValue();
        if (!Double.isFinite(d)) {
            throw new ModelFormatException(where + ": '" + key + "' is " + d + " (expected a finite number)");
        }
        return d;
    }
}
