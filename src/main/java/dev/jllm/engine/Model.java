package dev.jllm.engine;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import dev.jllm.model.Llama;
import dev.jllm.model.LlamaConfig;
import dev.jllm.model.Weights;
import dev.jllm.tokenizer.Llama2cTokenizerLoader;
import dev.jllm.tokenizer.Tokenizer;
import dev.jllm.tokenizer.TokenizerException;
import dev.jllm.tokenizer.TokenizerFiles;
import dev.jllm.tokenizer.TokenizerSpec;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded model: its file (memory-mapped), weights, forward pass and tokenizer. The API every front end uses;
 * create {@link Session}s to run text through it.
 */
public final class Model implements AutoCloseable {

    private final ModelFile file;
    /** Holds the repacked weight matrices (null with repacking off); closed with the model. */
    private final Arena repacked;
    private final Llama llama;
    private final TokenizerSpec tokenizerSpec;
    private Tokenizer tokenizer;
    private KernelWarmup warmup;

    /** The longest context {@link #defaultContextSize} gives. */
    static final int MAX_DEFAULT_CONTEXT = 4096;

    private Model(ModelFile file, TokenizerSpec tokenizerSpec, boolean repack) {
        this.file = file;
        this.repacked = repack ? Arena.ofShared() : null;
        try {
            this.llama = new Llama(new Weights(file, repacked));
        } catch (RuntimeException | Error e) {
            if (repacked != null) {
                repacked.close();
            }
            throw e;
        }
        this.tokenizerSpec = tokenizerSpec;
    }

    /**
     * Loads a model file of any supported format. {@code tokenizerPath} names a separate tokenizer file (llama2.c's
     * {@code tokenizer.bin}, or any file {@link TokenizerFiles} reads) and may be null: the file's own tokenizer is used, or {@code tokenizer.bin} beside a
     * llama2.c checkpoint.
     */
    public static Model load(Path modelPath, Path tokenizerPath) {
        return load(modelPath, tokenizerPath, true);
    }

    /**
     * As {@link #load(Path, Path)}; {@code repack} false keeps every weight matrix a view over the mapped file
     * (no repacked copies: less memory, the products in ggml's order).
     */
    public static Model load(Path modelPath, Path tokenizerPath, boolean repack) {
        return of(ModelLoaders.open(modelPath), tokenizerPath, repack);
    }

    /**
     * A model of a file already open (for instance one held in memory); the model closes it. {@code tokenizerPath} as
     * for {@link #load}.
     */
    public static Model of(ModelFile file, Path tokenizerPath) {
        return of(file, tokenizerPath, true);
    }

    /** As {@link #of(ModelFile, Path)}, with or without repacked weights (see {@link #load(Path, Path, boolean)}). */
    public static Model of(ModelFile file, Path tokenizerPath, boolean repack) {
        try {
            return new Model(file, tokenizerSpec(file, tokenizerPath), repack);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * The tokenizer a model runs with: the file {@code tokenizerPath} names (any format {@link TokenizerFiles} reads),
     * else the model file's own, else llama2.c's {@code tokenizer.bin} beside it; null when there is none. Whatever the
     * format, a tokenizer whose vocabulary is not the model's size is refused: a llama2.c {@code tokenizer.bin} is read
     * to its end (it does not say how many tokens it holds), so a 32000-token file is not cut to a 512-token model.
     */
    public static TokenizerSpec tokenizerSpec(ModelFile file, Path tokenizerPath) {
        TokenizerSpec spec;
        Path from;
        int vocab = file.config().vocabSize();
        if (tokenizerPath != null) {
            if (!Files.exists(tokenizerPath)) {
                throw new TokenizerException(tokenizerPath + ": no such file");
            }
            spec = TokenizerFiles.load(tokenizerPath, 0);
            from = tokenizerPath;
        } else if (file.tokenizer() != null) {
            spec = file.tokenizer();
            from = null;
        } else if (!Files.exists(file.path().toAbsolutePath().resolveSibling("tokenizer.bin"))) {
            return null; // the model still runs on token ids; tokenizer() says what is missing
        } else {
            from = file.path().toAbsolutePath().resolveSibling("tokenizer.bin");
            spec = Llama2cTokenizerLoader.load(from, 0);
        }
        if (spec.vocabSize() != vocab) {
            throw new ModelFormatException(file.path() + ": the tokenizer" + (from != null ? " " + from : "") + " has "
                    + spec.vocabSize() + " tokens but the model's vocabulary has " + vocab
                    + (from != null ? " (give the tokenizer made for this model)" : ""));
        }
        return spec;
    }

    public LlamaConfig config() {
        return file.config();
    }

    public ModelFile file() {
        return file;
    }

    /**
     * The model's tokenizer, built on first use; a model whose tokenizer is missing or not supported still runs on
     * token ids, and this method says what is wrong.
     */
    public synchronized Tokenizer tokenizer() {
        if (tokenizer == null) {
            if (tokenizerSpec == null) {
                throw new TokenizerException(file.path() + ": the file has no tokenizer; name one with --tokenizer FILE"
                        + " (llama2.c's tokenizer.bin)");
            }
            try {
                tokenizer = Tokenizer.from(tokenizerSpec);
            } catch (TokenizerException e) {
                throw new TokenizerException(file.path() + ": " + e.getMessage(), e);
            }
        }
        return tokenizer;
    }

    public Session newSession(SessionOptions options) {
        if (options.contextSize() < 1) {
            throw new IllegalArgumentException("context size must be at least 1, got " + options.contextSize());
        }
        return new Session(llama, options);
    }

    public Session newSession() {
        return newSession(SessionOptions.defaults(defaultContextSize()));
    }

    /** The context used when none is asked for: the model's, capped at 4096 to keep the KV cache modest. */
    public int defaultContextSize() {
        return Math.min(config().contextLength(), MAX_DEFAULT_CONTEXT);
    }

    /** A KV cache for several sequences at once, for {@link #forward}. */
    public KvCache newKvCache(int sequences, int contextSize, KvCache.Type type) {
        return new KvCache(config(), sequences, contextSize, type);
    }

    /** The batched forward pass over tokens of several sequences: logits of the tokens that want them. */
    public float[] forward(Batch batch, KvCache cache) {
        return llama.forward(batch, cache);
    }

    /**
     * The batched forward pass returning the final hidden states (after the output norm, {@code dim} per token) of the
     * tokens that want output, instead of their logits: for embeddings.
     */
    public float[] forwardHidden(Batch batch, KvCache cache) {
        return llama.forwardHidden(batch, cache);
    }

    /**
     * Starts compiling the forward pass in the background, on a miniature of this model (see {@link KernelWarmup}),
     * so that the first prompt runs compiled code: call it right after loading, and {@link #awaitWarmUp} before the
     * first forward pass. Does nothing for a model too small to gain, when called again, or when the system property
     * {@code jllm.warmup} is {@code false}. Results do not depend on it: the miniature shares no state with the model.
     */
    public synchronized void startWarmUp() {
        if (warmup == null && !"false".equals(System.getProperty("jllm.warmup"))) {
            warmup = KernelWarmup.start(file, repackSummary().tensors() > 0);
        }
    }

    /**
     * Waits for the warm-up {@link #startWarmUp} began (a few seconds at most) and says what it did, e.g.
     * {@code 23 rounds in 812 ms}; null when there was none. A warm-up that failed only ended early: its failure is
     * appended for {@code --verbose}.
     */
    public String awaitWarmUp() {
        KernelWarmup w;
        synchronized (this) {
            w = warmup;
        }
        if (w == null) {
            return null;
        }
        w.await();
        String done = w.rounds() + " rounds in " + w.nanos() / 1_000_000 + " ms";
        return w.failure() == null ? done : done + ", ended by " + w.failure();
    }

    /** Watches the activations of later forward passes (for dumps); null stops watching. */
    public void setActivationObserver(dev.jllm.model.ActivationObserver observer) {
        llama.setObserver(observer);
    }

    /** What repacking the weights did at load (nothing when it was turned off or no matrix applies). */
    public Weights.RepackSummary repackSummary() {
        return llama.weights().repackSummary();
    }

    @Override
    public void close() {
        KernelWarmup w;
        synchronized (this) {
            w = warmup;
        }
        if (w != null) {
            w.stop(); // the miniature reads the model's memory
        }
        try {
            if (repacked != null) {
                repacked.close();
            }
        } finally {
            file.close();
        }
    }
}
