package dev.jllm.engine;

import dev.jllm.format.ModelFile;
import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import dev.jllm.model.Llama;
import dev.jllm.model.LlamaConfig;
import dev.jllm.model.Weights;
import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Gets the JIT to compile the forward pass before the first prompt needs it. In a fresh JVM the vector kernels run
 * interpreted, then as C1 code in which every Vector API call is a boxed Java fallback: the first prompt of a 1B
 * model spent seconds there, and made those fallbacks so hot that C2 spent more time compiling them (wasted once the
 * kernels are compiled, since C2 intrinsifies the calls) than compiling the kernels. This runs the same code (the same
 * {@link Llama} forward pass over the same tensor types, kernel paths and thread pool) on a miniature of the model,
 * whose products take microseconds even interpreted, so the kernels reach C2 before the model's own products start.
 *
 * <p>The miniature keeps what decides which code runs: each matrix's type and row order, the head width, the context
 * length, a prompt batch and a single-token step, and products large enough to be split across the thread pool. Its
 * tensors are slices of the model's own mapped data (their leading blocks), so they hold valid blocks of every type.
 * Nothing of the model's state is shared with it: its own KV cache and activations, results thrown away.
 *
 * <p>It runs on a daemon thread started right after loading, while the caller builds its tokenizer and session, and
 * stops when another round no longer gets faster (the JIT is done with what the rounds exercise) or after
 * {@link #MAX_NANOS}. Best effort: a model too small to gain, or one it cannot cut down, is not warmed, and a failure
 * only ends the warm-up.
 */
final class KernelWarmup {

    /** The miniature's width, feed-forward width and vocabulary (each at most the model's own). */
    private static final int DIM = 256;
    private static final int HIDDEN = 256;
    private static final int VOCAB = 256;
    /** Tokens in the miniature's prompt batch (any batch of two or more takes the batched kernel paths). */
    private static final int PROMPT = 5;
    /** Single-token steps after the prompt batch in each round. */
    private static final int DECODE_STEPS = 3;
    /** A model with fewer weights per layer than this many miniatures compiles fast enough on its own prompt. */
    private static final int MIN_GAIN = 4;
    /** Rounds that must pass without a new best time (by {@link #IMPROVEMENT}) before the JIT counts as done. */
    private static final int STEADY_ROUNDS = 6;
    private static final double IMPROVEMENT = 0.8;
    /** At least this many rounds, and a best round this many times faster than the first (interpreted) one. */
    private static final int MIN_ROUNDS = 12;
    private static final int MIN_SPEEDUP = 10;
    /** The warm-up never takes longer than this (a very slow or busy machine). */
    static final long MAX_NANOS = 4_000_000_000L;

    private final Llama miniature;
    /** The miniature's repacked copies (when the model's are repacked), freed when the warm-up ends. */
    private final Arena repacked;
    private final Thread thread;
    private volatile int rounds;
    private volatile long nanos;
    private volatile Throwable failure;
    private volatile boolean stopped;

    private KernelWarmup(Llama miniature, Arena repacked) {
        this.miniature = miniature;
        this.repacked = repacked;
        this.thread = Thread.ofPlatform().daemon().name("jllm-warmup").unstarted(this::run);
    }

    /** Starts warming up for {@code file}'s model; null when that model gets no miniature (see {@link #miniature}). */
    static KernelWarmup start(ModelFile file, boolean repack) {
        Arena arena = repack ? Arena.ofShared() : null; // repacked like the model, so its kernels are the ones compiled
        Llama mini;
        try {
            mini = miniature(file, arena);
        } catch (RuntimeException e) {
            mini = null; // a model the miniature's checks do not foresee runs cold, as before
        }
        if (mini == null) {
            if (arena != null) {
                arena.close();
            }
            return null;
        }
        KernelWarmup w = new KernelWarmup(mini, arena);
        w.thread.start();
        return w;
    }

    /** Waits until the warm-up has ended (it ends by itself within {@link #MAX_NANOS}). */
    void await() {
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the warm-up after its current round (for a model being closed: the miniature reads the model's memory). */
    void stop() {
        stopped = true;
        await();
    }

    int rounds() {
        return rounds;
    }

    long nanos() {
        return nanos;
    }

    /** What stopped the warm-up early, or null. */
    Throwable failure() {
        return failure;
    }

    private void run() {
        long start = System.nanoTime();
        try {
            long first = 0;
            long best = Long.MAX_VALUE;
            int sinceBest = 0;
            while (!stopped && System.nanoTime() - start < MAX_NANOS) {
                long t0 = System.nanoTime();
                round(miniature);
                long t = System.nanoTime() - t0;
                rounds++;
                if (first == 0) {
                    first = t;
                }
                if (t < best * IMPROVEMENT) {
                    best = t;
                    sinceBest = 0;
                } else if (++sinceBest >= STEADY_ROUNDS && rounds >= MIN_ROUNDS && best * MIN_SPEEDUP <= first) {
                    break;
                }
            }
        } catch (Throwable t) {
            failure = t;
        } finally {
            nanos = System.nanoTime() - start;
            if (repacked != null) {
                repacked.close();
            }
        }
    }

    /**
     * The miniature of {@code file}'s forward pass, or null when the model is already about that small (nothing to
     * gain) or its shapes cannot be cut down to it while keeping whole blocks of its types.
     */
    static Llama miniature(ModelFile file, Arena repackInto) {
        LlamaConfig c = file.config();
        Map<String, Tensor> real = file.tensors();
        int block = 1;
        for (Tensor t : real.values()) {
            block = Math.max(block, t.type().blockSize());
        }
        // One key/value head, shared by two query heads when the model groups them (grouped-query attention's
        // indexing), or by more where that many make whole blocks of the attention output's rows.
        int heads = Math.min(2, c.heads() / c.kvHeads());
        while ((long) heads * c.headDim() % block != 0 && heads < c.heads()) {
            heads++;
        }
        int dim = Math.min(c.dim(), DIM);
        int hidden = Math.min(c.hiddenDim(), HIDDEN);
        int vocab = Math.min(c.vocabSize(), VOCAB);
        if ((long) dim * hidden * MIN_GAIN > (long) c.dim() * c.hiddenDim() || dim % block != 0
                || hidden % block != 0 || (long) heads * c.headDim() % block != 0 || heads > c.heads()
                || heads * c.headDim() > c.qDim()) {
            return null;
        }
        int context = Math.min(c.contextLength(), Model.MAX_DEFAULT_CONTEXT);
        LlamaConfig mini = new LlamaConfig(dim, 1, heads, 1, hidden, vocab, context, c.headDim(), c.ropeDim(),
                c.ropeTheta(), c.rmsEps(), c.ropeScaling());
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        slice(tensors, real, "token_embd.weight", dim, vocab);
        slice(tensors, real, "output.weight", dim, vocab);
        slice(tensors, real, "output_norm.weight", dim, 1);
        slice(tensors, real, "rope_freqs.weight", c.ropeDim() / 2, 1);
        // Layer 0's types are those of most layers (mixtures such as Q4_K_M differ in a few).
        String p = "blk.0.";
        slice(tensors, real, p + "attn_norm.weight", dim, 1);
        slice(tensors, real, p + "attn_q.weight", dim, mini.qDim());
        slice(tensors, real, p + "attn_k.weight", dim, mini.kvDim());
        slice(tensors, real, p + "attn_v.weight", dim, mini.kvDim());
        slice(tensors, real, p + "attn_output.weight", mini.qDim(), dim);
        slice(tensors, real, p + "ffn_norm.weight", dim, 1);
        slice(tensors, real, p + "ffn_gate.weight", dim, hidden);
        slice(tensors, real, p + "ffn_up.weight", dim, hidden);
        slice(tensors, real, p + "ffn_down.weight", hidden, dim);
        ModelFile small = new ModelFile(file.format(), file.path(), mini, tensors, null, Map.of(), null);
        return new Llama(new Weights(small, repackInto));
    }

    /**
     * The model's tensor {@code name} cut to {@code rowLength x rows}: its first values (whole blocks, as they are),
     * with the same type and, when the model's rows are reordered, a row order too. Absent tensors stay absent.
     */
    private static void slice(Map<String, Tensor> into, Map<String, Tensor> real, String name, int rowLength,
            int rows) {
        Tensor t = real.get(name);
        if (t == null) {
            return;
        }
        long values = (long) rowLength * rows;
        if (rowLength > t.rowLength() || values > t.elementCount()) {
            throw new IllegalArgumentException(name + " is smaller than its miniature");
        }
        long[] shape = t.shape().length == 1 ? new long[] {rowLength} : new long[] {rowLength, rows};
        int[] order = null;
        if (t.rowOrder() != null) {
            order = new int[rows];
            for (int r = 0; r < rows; r++) {
                order[r] = rows - 1 - r;
            }
        }
        into.put(name, new Tensor(name, t.type(), shape, t.data().asSlice(0, t.type().bytesFor(values)), order));
    }

    /**
     * One round: a prompt batch, then single tokens, as a generation's first steps (FP16 KV cache, the default). The
     * single-token steps cost little and run the decoding kernels' short loops often enough for C2 to take them up.
     */
    static void round(Llama mini) {
        LlamaConfig c = mini.config();
        int[] prompt = new int[PROMPT];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = (i * 37 + 1) % c.vocabSize();
        }
        KvCache cache = new KvCache(c, 1, c.contextLength(), KvCache.Type.F16);
        mini.forward(Batch.ofSequence(0, prompt, 0, false), cache);
        for (int step = 0; step < DECODE_STEPS; step++) {
            mini.forward(Batch.ofSequence(0, new int[] {prompt[step]}, PROMPT + step, true), cache);
        }
    }
}
