package dev.jllm.model;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tensor.Tensor;

/**
 * The tensors the forward pass uses, taken from a {@link ModelFile} by their canonical names and checked against the
 * config. Matrices stay typed views over the mapped file; only the small norm vectors are copied to float arrays.
 */
public final class Weights {

    /** One transformer block. */
    public record Layer(
            float[] attnNorm,
            Tensor wq,
            Tensor wk,
            Tensor wv,
            Tensor wo,
            float[] ffnNorm,
            Tensor wGate,
            Tensor wUp,
            Tensor wDown) {
    }

    final LlamaConfig config;
    final Tensor tokenEmbedding;
    final Layer[] layers;
    final float[] outputNorm;
    final Tensor output;
    /** Per rotary frequency divisor (Llama 3 scaling), or null. Length ropeDim / 2. */
    final float[] ropeFreqFactors;

    public Weights(ModelFile file) {
        this.config = file.config();
        LlamaConfig c = config;
        String where = file.path().toString();
        tokenEmbedding = expect(file, "token_embd.weight", where, c.dim(), c.vocabSize());
        layers = new Layer[c.layers()];
        for (int i = 0; i < c.layers(); i++) {
            String p = "blk." + i + ".";
            layers[i] = new Layer(
                    vector(file, p + "attn_norm.weight", where, c.dim()),
                    expect(file, p + "attn_q.weight", where, c.dim(), c.qDim()),
                    expect(file, p + "attn_k.weight", where, c.dim(), c.kvDim()),
                    expect(file, p + "attn_v.weight", where, c.dim(), c.kvDim()),
                    expect(file, p + "attn_output.weight", where, c.qDim(), c.dim()),
                    vector(file, p + "ffn_norm.weight", where, c.dim()),
                    expect(file, p + "ffn_gate.weight", where, c.dim(), c.hiddenDim()),
                    expect(file, p + "ffn_up.weight", where, c.dim(), c.hiddenDim()),
                    expect(file, p + "ffn_down.weight", where, c.hiddenDim(), c.dim()));
        }
        outputNorm = vector(file, "output_norm.weight", where, c.dim());
        Tensor out = file.tensorOrNull("output.weight");
        output = out == null ? tokenEmbedding : expect(file, "output.weight", where, c.dim(), c.vocabSize());
        Tensor freqs = file.tensorOrNull("rope_freqs.weight");
        if (freqs != null) {
            ropeFreqFactors = vector(file, "rope_freqs.weight", where, c.ropeDim() / 2);
        } else if (c.ropeScaling() != null) {
            ropeFreqFactors = llama3FreqFactors(c);
        } else {
            ropeFreqFactors = null;
        }
    }

    public LlamaConfig config() {
        return config;
    }

    public Tensor tokenEmbedding() {
        return tokenEmbedding;
    }

    public Layer layer(int i) {
        return layers[i];
    }

    public Tensor output() {
        return output;
    }

    private static Tensor expect(ModelFile file, String name, String where, long rowLength, long rows) {
        Tensor t = file.tensor(name);
        if (t.shape().length != 2 || t.shape()[0] != rowLength || t.shape()[1] != rows) {
            throw new ModelFormatException(where + ": tensor '" + name + "' has shape " + t.shapeString()
                    + ", expected [" + rowLength + ", " + rows + "] from the model config");
        }
        if (t.type().kernel() == null) {
            throw new ModelFormatException(where + ": tensor '" + name + "' has type " + t.type().name()
                    + ", which jllm cannot compute with yet");
        }
        return t;
    }

    private static float[] vector(ModelFile file, String name, String where, long length) {
        Tensor t = file.tensor(name);
        if (t.elementCount() != length || t.shape()[0] != length) {
            throw new ModelFormatException(where + ": tensor '" + name + "' has shape " + t.shapeString()
                    + ", expected [" + length + "]");
        }
        if (t.type().kernel() == null) {
            throw new ModelFormatException(where + ": tensor '" + name + "' has type " + t.type().name()
                    + ", which jllm cannot compute with yet");
        }
        return t.toFloatArray();
    }

    /**
     * Llama 3.1 frequency scaling as divisors of the plain RoPE frequencies: high frequencies are kept, low ones divided
     * by the factor, and the band between blended smoothly (the same factors llama.cpp stores as {@code rope_freqs}).
     */
    public static float[] llama3FreqFactors(LlamaConfig c) {
        LlamaConfig.RopeScaling s = c.ropeScaling();
        int n = c.ropeDim() / 2;
        float[] factors = new float[n];
        double lowFreqWavelen = s.originalContextLength() / s.lowFreqFactor();
        double highFreqWavelen = s.originalContextLength() / s.highFreqFactor();
        for (int i = 0; i < n; i++) {
            double freq = Math.pow(c.ropeTheta(), -2.0 * i / c.ropeDim());
            double wavelen = 2 * Math.PI / freq;
            double scaled;
            if (wavelen < highFreqWavelen) {
                scaled = freq;
            } else if (wavelen > lowFreqWavelen) {
                scaled = freq / s.factor();
            } else {
                double smooth = (s.originalContextLength() / wavelen - s.lowFreqFactor())
                        / (s.highFreqFactor() - s.lowFreqFactor());
                scaled = (1 - smooth) * freq / s.factor() + smooth * freq;
            }
            factors[i] = (float) (freq / scaled);
        }
        return factors;
    }
}
