package dev.jllm.model;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tensor.Repacking;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The tensors the forward pass uses, taken from a {@link ModelFile} by their canonical names and checked against the
 * config. Matrices stay typed views over the mapped file, or, when an arena is given, the Q4_0 and Q8_0 ones are
 * repacked into it ({@link Repacking}); only the small norm vectors are copied to float arrays.
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
    private final RepackSummary repackSummary;
    /** Per rotary frequency divisor (Llama 3 scaling), or null. Length ropeDim / 2. */
    final float[] ropeFreqFactors;

    /**
     * What repacking did at load: how many matrices, their bytes and the time taken, or why nothing was repacked
     * ({@code skipped} is null when repacking ran or was not asked for).
     */
    public record RepackSummary(int tensors, long bytes, long nanos, String skipped) {
        static final RepackSummary NONE = new RepackSummary(0, 0, 0, null);
    }

    /** The weights as views over the mapped file, nothing repacked. */
    public Weights(ModelFile file) {
        this(file, null);
    }

    /**
     * The weights; when {@code repackInto} is not null, the Q4_0 and Q8_0 matrices are repacked into it (it must stay
     * open as long as these weights are used), unless the copies would not fit in the memory the system has
     * available, which {@link #repackSummary()} then says.
     */
    public Weights(ModelFile file, Arena repackInto) {
        this.config = file.config();
        LlamaConfig c = config;
        String where = file.path().toString();
        Tensor embedding = expect(file, "token_embd.weight", where, c.dim(), c.vocabSize());
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
        Tensor outputMatrix = out == null ? embedding : expect(file, "output.weight", where, c.dim(), c.vocabSize());
        Tensor freqs = file.tensorOrNull("rope_freqs.weight");
        if (freqs != null) {
            ropeFreqFactors = vector(file, "rope_freqs.weight", where, c.ropeDim() / 2);
        } else if (c.ropeScaling() != null) {
            ropeFreqFactors = llama3FreqFactors(c);
        } else {
            ropeFreqFactors = null;
        }
        Map<Tensor, Tensor> repacked = new IdentityHashMap<>();
        repackSummary = repackInto == null ? RepackSummary.NONE : repack(outputMatrix, repackInto, repacked);
        if (!repacked.isEmpty()) {
            for (int i = 0; i < layers.length; i++) {
                Layer l = layers[i];
                layers[i] = new Layer(l.attnNorm(), swap(repacked, l.wq()), swap(repacked, l.wk()),
                        swap(repacked, l.wv()), swap(repacked, l.wo()), l.ffnNorm(), swap(repacked, l.wGate()),
                        swap(repacked, l.wUp()), swap(repacked, l.wDown()));
            }
        }
        output = swap(repacked, outputMatrix);
        // A tied embedding is the output matrix: its rows are then looked up in the repacked copy as well.
        tokenEmbedding = outputMatrix == embedding ? output : embedding;
    }

    /** Repacks every matrix products read (the layers' and the output's) that {@link Repacking} applies to. */
    private RepackSummary repack(Tensor outputMatrix, Arena arena, Map<Tensor, Tensor> into) {
        Map<Tensor, Boolean> matrices = new IdentityHashMap<>();
        for (Layer l : layers) {
            for (Tensor t : new Tensor[] {l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()}) {
                matrices.put(t, Boolean.TRUE);
            }
        }
        matrices.put(outputMatrix, Boolean.TRUE);
        long bytes = 0;
        for (Tensor t : matrices.keySet()) {
            if (Repacking.applies(t)) {
                bytes = Math.addExact(bytes, Repacking.bytes(t));
            }
        }
        if (bytes == 0) {
            return RepackSummary.NONE;
        }
        long available = Repacking.availableMemory();
        if (bytes > available) {
            return new RepackSummary(0, 0, 0, String.format(java.util.Locale.ROOT,
                    "the repacked copies need %.0f MiB but only %.0f MiB of memory are available", bytes / 1048576.0,
                    available / 1048576.0));
        }
        long start = System.nanoTime();
        java.lang.foreign.MemorySegment copies;
        try {
            copies = Repacking.allocate(arena, bytes);
        } catch (OutOfMemoryError e) {
            return new RepackSummary(0, 0, 0, String.format(java.util.Locale.ROOT,
                    "%.0f MiB of memory for the repacked copies could not be allocated", bytes / 1048576.0));
        }
        long offset = 0;
        for (Tensor t : matrices.keySet()) {
            if (Repacking.applies(t)) {
                long size = Repacking.bytes(t); // a multiple of 64, so every slice stays aligned
                into.put(t, Repacking.repack(t, copies.asSlice(offset, size)));
                offset += size;
            }
        }
        return new RepackSummary(into.size(), bytes, System.nanoTime() - start, null);
    }

    private static Tensor swap(Map<Tensor, Tensor> repacked, Tensor t) {
        return repacked.getOrDefault(t, t);
    }

    /** What repacking did when these weights were made. */
    public RepackSummary repackSummary() {
        return repackSummary;
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
