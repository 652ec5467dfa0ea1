package dev.jllm.model;

/**
 * The hyper-parameters of a LLaMA-family model, whatever file they came from.
 *
 * @param dim            model width (embedding length)
 * @param layers         number of transformer blocks
 * @param heads          attention (query) heads
 * @param kvHeads        key/value heads (grouped-query attention when fewer than heads)
 * @param hiddenDim      feed-forward width
 * @param vocabSize      vocabulary size (rows of the embedding table)
 * @param contextLength  the context the model was trained for (the default and maximum --ctx-size)
 * @param headDim        width of one head (usually dim / heads)
 * @param ropeDim        how many dimensions of each head are rotated (usually headDim)
 * @param ropeTheta      RoPE frequency base
 * @param rmsEps         RMSNorm epsilon
 * @param ropeScaling    Llama 3 frequency scaling, or null when the file asks for none
 */
public record LlamaConfig(
        int dim,
        int layers,
        int heads,
        int kvHeads,
        int hiddenDim,
        int vocabSize,
        int contextLength,
        int headDim,
        int ropeDim,
        float ropeTheta,
        float rmsEps,
        RopeScaling ropeScaling) {

    /**
     * Llama 3.1-style RoPE scaling (Hugging Face {@code rope_scaling} of type {@code llama3}).
     * GGUF files carry the resulting per-frequency factors as the {@code rope_freqs} tensor instead.
     */
    public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalContextLength) {
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    public int qDim() {
        return heads * headDim;
    }

    public LlamaConfig withContextLength(int n) {
        return new LlamaConfig(dim, layers, heads, kvHeads, hiddenDim, vocabSize, n, headDim, ropeDim, ropeTheta, rmsEps,
                ropeScaling);
    }
}
