package dev.jllm.model;

/**
 * Sees the activations of a forward pass as they are computed, for dumps and debugging. {@code data} holds
 * {@code batch} rows of {@code width} values (row b at {@code b * width}); it is the pass's scratch memory, valid only
 * during the call (copy what you keep). Names: {@code x} (the layer's input), {@code xnorm} (the RMSNorm output that
 * feeds Q/K/V), {@code q}, {@code k} (after RoPE, interleaved-pair order), {@code v}, {@code attn} (the heads' weighted
 * values, before the output projection), {@code attn_out} (after it), {@code ffn_out} (the feed-forward output).
 */
@FunctionalInterface
public interface ActivationObserver {
    void observe(int layer, String name, float[] data, int batch, int width);
}
