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

    /** The Llama 3.1 frequency factors of a config with {@code ropeScaling}; see {@link #llama3FreqFactors(int, float, LlamaConfig.RopeScaling)}. */
    public static float[] llama3FreqFactors(LlamaConfig c) {
        return llama3FreqFactors(c.ropeDim(), c.ropeTheta(), c.ropeScaling());
    }

    /**
     * Llama 3.1 frequency scaling as divisors of the plain RoPE frequencies, one per rotated pair: 1 for short
     * wavelengths, {@code factor} for long ones, and a smooth blend between, as llama.cpp's converter stores them in
     * the {@code rope_freqs} tensor. The frequencies are float32 (as the converter's torch tensor) and the blend is
     * worked in double and rounded once, which reproduces that tensor bit for bit (a test checks it on llama3-tiny).
     */
    public static float[] llama3FreqFactors(int ropeDim, float theta, LlamaConfig.RopeScaling s) {
        double factor = s.factor();
        double low = s.lowFreqFactor();
        double high = s.highFreqFactor();
        double originalContext = s.originalContextLength();
        double lowFreqWavelen = originalContext / low;
        double highFreqWavelen = originalContext / high;
        float[] factors = new float[ropeDim / 2];
        for (int i = 0; i < factors.length; i++) {
            float exponent = (float) (2 * i) / ropeDim;
            float freq = (float) (1.0 / (float) Math.pow(theta, exponent));
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highFreqWavelen) {
                factors[i] = 1f;
            } else if (wavelen > lowFreqWavelen) {
                factors[i] = (float) factor;
            } else {
                double smooth = (originalContext / wavelen - low) / (high - low);
                factors[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return factors;
    }
}
