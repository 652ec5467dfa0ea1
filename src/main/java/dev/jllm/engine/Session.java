package dev.jllm.engine;

import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import dev.jllm.model.Llama;
import java.util.Arrays;

/**
 * One conversation with a model: the tokens so far and their KV cache. Appending tokens runs them through the model
 * and returns logits; the history is never recomputed unless the session was created without a KV cache.
 */
public final class Session {

    private final Llama llama;
    private final SessionOptions options;
    private final KvCache cache;
    private final int vocab;
    private int[] history = new int[64];
    private int length;

    Session(Llama llama, SessionOptions options) {
        this.llama = llama;
        this.options = options;
        this.cache = new KvCache(llama.config(), 1, options.contextSize(), options.cacheType());
        this.vocab = llama.config().vocabSize();
    }

    public SessionOptions options() {
        return options;
    }

    public int contextSize() {
        return options.contextSize();
    }

    /** Number of tokens in the session (the position the next token goes to). */
    public int length() {
        return length;
    }

    /** The tokens so far. */
    public int[] tokens() {
        return Arrays.copyOf(history, length);
    }

    public void reset() {
        length = 0;
    }

    /** Drops the tokens after the first {@code newLength} (their cache entries are simply overwritten later). */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate " + length + " tokens to " + newLength);
        }
        length = newLength;
    }

    /** Appends tokens and returns the logits after the last one ({@code vocabSize} values). */
    public float[] append(int... tokens) {
        return run(tokens, false);
    }

    /**
     * Appends tokens and returns the logits after each of them, {@code tokens.length} rows of {@code vocabSize}
     * (for perplexity and teacher-forced comparisons).
     */
    public float[] appendAll(int... tokens) {
        return run(tokens, true);
    }

    private float[] run(int[] tokens, boolean allLogits) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("no tokens to append");
        }
        if (length + tokens.length > options.contextSize()) {
            throw new ContextFullException(length + tokens.length, options.contextSize());
        }
        int start = length;
        remember(tokens);
        if (!options.useKvCache()) {
            // Recompute every position from scratch; only the new tokens' logits are returned.
            float[] all = forward(Arrays.copyOf(history, length), 0, true);
            int from = allLogits ? start : length - 1;
            return Arrays.copyOfRange(all, from * vocab, length * vocab);
        }
        return forward(tokens, start, allLogits);
    }

    private float[] forward(int[] tokens, int start, boolean allLogits) {
        if (options.prefill() == SessionOptions.Prefill.BATCH || tokens.length == 1) {
            return llama.forward(Batch.ofSequence(0, tokens, start, allLogits), cache);
        }
        float[] out = new float[(allLogits ? tokens.length : 1) * vocab];
        for (int i = 0; i < tokens.length; i++) {
            float[] row = llama.forward(Batch.ofSequence(0, new int[] {tokens[i]}, start + i, true), cache);
            if (allLogits) {
                System.arraycopy(row, 0, out, i * vocab, vocab);
            } else if (i == tokens.length - 1) {
                System.arraycopy(row, 0, out, 0, vocab);
            }
        }
        return out;
    }

    private void remember(int[] tokens) {
        if (length + tokens.length > history.length) {
            history = Arrays.copyOf(history, Math.max(2 * history.length, length + tokens.length));
        }
        System.arraycopy(tokens, 0, history, length, tokens.length);
        length += tokens.length;
    }
}
