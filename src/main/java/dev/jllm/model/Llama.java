package dev.jllm.model;

import dev.jllm.tensor.MatMul;
import dev.jllm.tensor.Parallel;

/**
 * The LLaMA transformer: one forward pass over a batch of tokens from one or more sequences. Prefill of a whole
 * prompt, token-by-token decoding and several sequences at once are the same code.
 */
public final class Llama {

    private final Weights weights;
    private final LlamaConfig config;
    /** cos/sin of every rotary angle for positions below the cached length: [position][ropeDim / 2]. */
    private float[] ropeCos = new float[0];
    private float[] ropeSin = new float[0];
    private int ropePositions;

    private Scratch scratch;
    /** Null unless someone is watching (then called at each named point of every layer). */
    private volatile ActivationObserver observer;

    public Llama(Weights weights) {
        this.weights = weights;
        this.config = weights.config;
    }

    public LlamaConfig config() {
        return config;
    }

    public Weights weights() {
        return weights;
    }

    /** Watches the activations of later forward passes; null stops watching. */
    public void setObserver(ActivationObserver observer) {
        this.observer = observer;
    }

    private void observe(int layer, String name, float[] data, int batch, int width) {
        ActivationObserver o = observer;
        if (o != null) {
            o.observe(layer, name, data, batch, width);
        }
    }

    /** Activations for a batch, grown when a larger batch comes (not per token). */
    private final class Scratch {
        final int capacity;
        final float[] x;      // residual stream [batch][dim]
        final float[] xb;     // normed input [batch][dim]
        final float[] q;      // [batch][qDim]
        final float[] k;      // [batch][kvDim]
        final float[] v;      // [batch][kvDim]
        final float[] att;    // attention output [batch][qDim]
        final float[] proj;   // [batch][dim]
        final float[] gate;   // [batch][hidden]
        final float[] up;     // [batch][hidden]

        Scratch(int capacity) {
            this.capacity = capacity;
            x = new float[capacity * config.dim()];
            xb = new float[capacity * config.dim()];
            q = new float[capacity * config.qDim()];
            k = new float[capacity * config.kvDim()];
            v = new float[capacity * config.kvDim()];
            att = new float[capacity * config.qDim()];
            proj = new float[capacity * config.dim()];
            gate = new float[capacity * config.hiddenDim()];
            up = new float[capacity * config.hiddenDim()];
        }
    }

    /**
     * Runs the batch, storing its keys and values in {@code cache}, and returns the logits of the tokens that asked for
     * them, one row of {@code vocabSize} per such token, in batch order.
     */
    public synchronized float[] forward(Batch batch, KvCache cache) {
        Scratch s = layers(batch, cache);
        float[] normed = outputNormed(batch, s);
        float[] logits = new float[batch.logitCount() * config.vocabSize()];
        MatMul.apply(weights.output, normed, batch.logitCount(), logits);
        return logits;
    }

    /**
     * Runs the batch as {@link #forward} does and returns, instead of logits, the final hidden states (after the
     * output norm, {@code dim} values per token) of the tokens whose {@code wantLogits} is set, in batch order: what
     * llama.cpp's embedding mode pools.
     */
    public synchronized float[] forwardHidden(Batch batch, KvCache cache) {
        return outputNormed(batch, layers(batch, cache));
    }

    private Scratch layers(Batch batch, KvCache cache) {
        int n = batch.size();
        validate(batch, cache);
        if (scratch == null || scratch.capacity < n) {
            scratch = new Scratch(Math.max(n, scratch == null ? 1 : Math.min(2 * scratch.capacity, 512)));
        }
        ensureRope(cache.contextLength());
        Scratch s = scratch;
        int dim = config.dim();

        for (int b = 0; b < n; b++) {
            weights.tokenEmbedding.dequantizeRow(batch.tokens()[b], s.x, b * dim);
        }
        for (int l = 0; l < config.layers(); l++) {
            attentionBlock(l, batch, cache, s);
            feedForwardBlock(l, n, s);
        }
        return s;
    }

    private void attentionBlock(int l, Batch batch, KvCache cache, Scratch s) {
        int n = batch.size();
        Weights.Layer layer = weights.layers[l];
        observe(l, "x", s.x, n, config.dim());
        rmsNorm(s.xb, s.x, layer.attnNorm(), n);
        observe(l, "xnorm", s.xb, n, config.dim());
        MatMul.apply(layer.wq(), s.xb, n, s.q);
        MatMul.apply(layer.wk(), s.xb, n, s.k);
        MatMul.apply(layer.wv(), s.xb, n, s.v);
        int kvDim = config.kvDim();
        for (int b = 0; b < n; b++) {
            int pos = batch.positions()[b];
            rope(s.q, b * config.qDim(), config.heads(), pos);
            rope(s.k, b * kvDim, config.kvHeads(), pos);
            int at = cache.offset(batch.sequenceIds()[b], pos);
            cache.store(l, at, s.k, s.v, b * kvDim);
        }
        observe(l, "q", s.q, n, config.qDim());
        observe(l, "k", s.k, n, kvDim);
        observe(l, "v", s.v, n, kvDim);
        attention(l, batch, cache, s);
        observe(l, "attn", s.att, n, config.qDim());
        MatMul.apply(layer.wo(), s.att, n, s.proj);
        observe(l, "attn_out", s.proj, n, config.dim());
        add(s.x, s.proj, n * config.dim());
    }

    /**
     * Causal attention of every (token, head) over its own sequence's cached positions {@code 0..pos}: with an FP16
     * cache as llama.cpp computes it ({@link HalfAttention}); with a float32 cache in plain float arithmetic, as
     * llama2.c does.
     */
    private void attention(int l, Batch batch, KvCache cache, Scratch s) {
        int heads = config.heads();
        int headDim = config.headDim();
        int kvDim = config.kvDim();
        int groupSize = heads / config.kvHeads();
        float scale = (float) (1.0 / Math.sqrt(headDim));
        int qDim = config.qDim();
        boolean half = cache.type() == KvCache.Type.F16;
        int maxPos = 0;
        for (int b = 0; b < batch.size(); b++) {
            maxPos = Math.max(maxPos, batch.positions()[b]);
        }
        if (half) {
            // Jobs per (KV head, token), KV head first: a thread's run of jobs is mostly one KV head's consecutive
            // tokens, whose heads share the keys and values converted once (HalfAttention.groupHeads). Each head's
            // result is the same whichever thread takes it and whatever else it computed.
            int n = batch.size();
            Parallel.forRange(n * config.kvHeads(), 2L * headDim * (maxPos + 1) * groupSize, (start, end) -> {
                HalfAttention.Scratch halfScratch = HalfAttention.scratch(headDim, cache.contextLength());
                halfScratch.forgetRows();
                for (int job = start; job < end; job++) {
                    int g = job / n;
                    int b = job % n;
                    int pos = batch.positions()[b];
                    int base = cache.offset(batch.sequenceIds()[b], 0) + g * headDim;
                    int qOff = b * qDim + g * groupSize * headDim;
                    // Padded from the token's own position, not the batch's last one: the sums' order (and so the
                    // bits) must not depend on the other tokens of the batch.
                    int attended = HalfAttention.attendedPositions(pos, cache.contextLength());
                    HalfAttention.groupHeads(cache.halfKeys(l), cache.halfValues(l), base, kvDim, headDim, pos,
                            attended, s.q, qOff, groupSize, scale, halfScratch, s.att, qOff);
                }
            });
            return;
        }
        // Work per (token, head): a key dot product and a value update per attended position (a hint for splitting
        // the work; each (token, head) is computed the same way whichever thread takes it).
        Parallel.forRange(batch.size() * heads, 2L * headDim * (maxPos + 1), (start, end) -> {
            HalfAttention.Scratch halfScratch = half ? HalfAttention.scratch(headDim, cache.contextLength()) : null;
            float[] scores = half ? null : new float[cache.contextLength()];
            float[] out = new float[headDim];
            for (int job = start; job < end; job++) {
                int b = job / heads;
                int h = job % heads;
                int pos = batch.positions()[b];
                int base = cache.offset(batch.sequenceIds()[b], 0) + (h / groupSize) * headDim;
                int qOff = b * qDim + h * headDim;
                if (half) {
                    // Padded from the token's own position, not the batch's last one: the sums' order (and so the
                    // bits) must not depend on the other tokens of the batch.
                    int attended = HalfAttention.attendedPositions(pos, cache.contextLength());
                    HalfAttention.head(cache.halfKeys(l), cache.halfValues(l), base, kvDim, headDim, pos, attended, s.q,
                            qOff, scale, halfScratch, s.att, qOff);
                    continue;
                }
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t <= pos; t++) {
                    scores[t] = cache.dotKey(l, base + t * kvDim, s.q, qOff, headDim) * scale;
                    max = Math.max(max, scores[t]);
                }
                float sum = 0f;
                for (int t = 0; t <= pos; t++) {
                    scores[t] = (float) Math.exp(scores[t] - max);
                    sum += scores[t];
                }
                java.util.Arrays.fill(out, 0f);
                for (int t = 0; t <= pos; t++) {
                    cache.addValue(l, base + t * kvDim, scores[t] / sum, out, headDim);
                }
                System.arraycopy(out, 0, s.att, qOff, headDim);
            }
        });
    }

    private void feedForwardBlock(int l, int n, Scratch s) {
        Weights.Layer layer = weights.layers[l];
        rmsNorm(s.xb, s.x, layer.ffnNorm(), n);
        MatMul.apply(layer.wGate(), s.xb, n, s.gate);
        MatMul.apply(layer.wUp(), s.xb, n, s.up);
        int hidden = config.hiddenDim();
        for (int b = 0; b < n; b++) {
            GgmlMath.silu(s.gate, b * hidden, hidden);
        }
        for (int i = 0; i < n * hidden; i++) {
            s.gate[i] *= s.up[i];
        }
        MatMul.apply(layer.wDown(), s.gate, n, s.proj);
        observe(l, "ffn_out", s.proj, n, config.dim());
        add(s.x, s.proj, n * config.dim());
    }

    /** The residual stream of the tokens that want output, through the output norm: [count][dim]. */
    private float[] outputNormed(Batch batch, Scratch s) {
        int dim = config.dim();
        int count = batch.logitCount();
        float[] selected = new float[count * dim];
        int j = 0;
        for (int b = 0; b < batch.size(); b++) {
            if (batch.wantLogits()[b]) {
                System.arraycopy(s.x, b * dim, selected, j * dim, dim);
                j++;
            }
        }
        float[] normed = new float[count * dim];
        rmsNorm(normed, selected, weights.outputNorm, count);
        return normed;
    }

    private void rmsNorm(float[] out, float[] x, float[] weight, int n) {
        int dim = config.dim();
        for (int b = 0; b < n; b++) {
            int off = b * dim;
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                ss += x[off + i] * x[off + i];
            }
            // As ggml's rms_norm rounds: the mean to float, then 1.0f / sqrtf(mean + eps) in float. A scale one ulp
            // off moves activations across 8-bit rounding ties (frequent where they come straight from K-quant
            // embeddings), and the logits then drift from llama.cpp's.
            float mean = (float) (ss / dim);
            float inv = 1.0f / (float) Math.sqrt(mean + config.rmsEps());
            for (int i = 0; i < dim; i++) {
                out[off + i] = weight[i] * (x[off + i] * inv);
            }
        }
    }

    private static void add(float[] x, float[] y, int n) {
        for (int i = 0; i < n; i++) {
            x[i] += y[i];
        }
    }

    /** Rotates adjacent pairs (x[2i], x[2i+1]) of the first ropeDim values of each head by position * frequency i. */
    private void rope(float[] v, int offset, int headCount, int pos) {
        int half = config.ropeDim() / 2;
        int row = pos * half;
        for (int h = 0; h < headCount; h++) {
            int base = offset + h * config.headDim();
            for (int i = 0; i < half; i++) {
                float cos = ropeCos[row + i];
                float sin = ropeSin[row + i];
                float a = v[base + 2 * i];
                float b = v[base + 2 * i + 1];
                v[base + 2 * i] = a * cos - b * sin;
                v[base + 2 * i + 1] = a * sin + b * cos;
            }
        }
    }

    private void ensureRope(int positions) {
        if (positions <= ropePositions) {
            return;
        }
        int half = config.ropeDim() / 2;
        float[] cos = new float[positions * half];
        float[] sin = new float[positions * half];
        // As ggml computes the angles: the position times successive float powers of theta^(-2/ropeDim).
        float thetaScale = (float) Math.pow(config.ropeTheta(), -2.0f / config.ropeDim());
        for (int p = 0; p < positions; p++) {
            float theta = p;
            for (int i = 0; i < half; i++) {
                float factor = weights.ropeFreqFactors != null ? weights.ropeFreqFactors[i] : 1f;
                float angle = theta / factor;
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
                theta *= thetaScale;
            }
        }
        ropeCos = cos;
        ropeSin = sin;
        ropePositions = positions;
    }

    private void validate(Batch batch, KvCache cache) {
        for (int b = 0; b < batch.size(); b++) {
            int token = batch.tokens()[b];
            if (token < 0 || token >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary (0.."
                        + (config.vocabSize() - 1) + ")");
            }
            int pos = batch.positions()[b];
            if (pos < 0 || pos >= cache.contextLength()) {
                throw new IllegalArgumentException("position " + pos + " is outside the context (0.."
                        + (cache.contextLength() - 1) + ")");
            }
            int seq = batch.sequenceIds()[b];
            if (seq < 0 || seq >= cache.sequences()) {
                throw new IllegalArgumentException("sequence " + seq + " is not in the KV cache (0.."
                        + (cache.sequences() - 1) + ")");
            }
        }
    }
}
