package dev.jllm.synth;

import dev.jllm.model.LlamaConfig;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hyper-parameters of a LLaMA-family model to generate.
 *
 * @param name           a short name for general.name ({@code custom} when made from dimensions)
 * @param dim            embedding length
 * @param layers         transformer blocks
 * @param heads          query heads
 * @param kvHeads        key/value heads
 * @param hiddenDim      feed-forward width
 * @param vocabSize      tokens
 * @param contextLength  trained context
 * @param ropeTheta      RoPE frequency base
 * @param rmsEps         RMSNorm epsilon
 * @param tiedEmbeddings the output matrix is the token embedding (no output.weight tensor)
 * @param ropeScaling    Llama 3.1-style frequency scaling, written as the rope_freqs tensor; null for none
 */
public record ModelShape(String name, int dim, int layers, int heads, int kvHeads, int hiddenDim, int vocabSize,
        int contextLength, float ropeTheta, float rmsEps, boolean tiedEmbeddings, LlamaConfig.RopeScaling ropeScaling) {

    private static final Map<String, ModelShape> NAMED = new LinkedHashMap<>();

    static {
        add(new ModelShape("stories15M", 288, 6, 6, 6, 768, 32000, 256, 10000f, 1e-5f, false, null));
        add(new ModelShape("stories110M", 768, 12, 12, 12, 2048, 32000, 1024, 10000f, 1e-5f, false, null));
        add(new ModelShape("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000f, 1e-5f, false, null));
        add(new ModelShape("llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 131072, 500000f, 1e-5f, true,
                new LlamaConfig.RopeScaling(32f, 1f, 4f, 8192)));
        add(new ModelShape("llama-2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000f, 1e-5f, false, null));
        add(new ModelShape("llama-3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000f, 1e-5f, false, null));
    }

    private static void add(ModelShape shape) {
        NAMED.put(shape.name(), shape);
    }

    /** The names of the named shapes, smallest first. */
    public static java.util.List<String> names() {
        return java.util.List.copyOf(NAMED.keySet());
    }

    /** The named shape, or null. */
    public static ModelShape named(String name) {
        return NAMED.get(name);
    }

    public int headDim() {
        return dim / heads;
    }

    public int kvDim() {
        return kvHeads * headDim();
    }

    /** Checks the dimensions fit together; the message says what is wrong (IllegalArgumentException). */
    public ModelShape validate() {
        positive("dim", dim);
        positive("layers", layers);
        positive("heads", heads);
        positive("kv-heads", kvHeads);
        positive("hidden", hiddenDim);
        positive("vocab-size", vocabSize);
        positive("ctx", contextLength);
        if (dim % heads != 0) {
            throw new IllegalArgumentException("dim " + dim + " is not a multiple of heads " + heads);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("heads " + heads + " is not a multiple of kv-heads " + kvHeads);
        }
        if (headDim() % 2 != 0) {
            throw new IllegalArgumentException("head size dim/heads = " + headDim() + " is odd (RoPE needs an even size)");
        }
        if (!(ropeTheta > 0) || !(rmsEps > 0)) {
            throw new IllegalArgumentException("rope theta and rms epsilon must be positive");
        }
        return this;
    }

    private static void positive(String what, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " is " + value + " (expected a positive number)");
        }
    }

    /** Weights in the model (every tensor's elements). */
    public long parameterCount() {
        long perLayer = 2L * dim + 2L * dim * dim + 2L * dim * kvDim() + 3L * dim * hiddenDim;
        long count = (long) layers * perLayer + dim + (long) vocabSize * dim * (tiedEmbeddings ? 1 : 2);
        return ropeScaling != null ? count + headDim() / 2 : count;
    }

    public ModelShape withName(String newName) {
        return new ModelShape(newName, dim, layers, heads, kvHeads, hiddenDim, vocabSize, contextLength, ropeTheta, rmsEps,
                tiedEmbeddings, ropeScaling);
    }
}
