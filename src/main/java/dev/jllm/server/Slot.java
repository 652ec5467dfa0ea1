package dev.jllm.server;

import dev.jllm.engine.StopStrings;
import dev.jllm.sampling.Sampler;
import dev.jllm.sampling.TokenLogprobs;
import dev.jllm.tokenizer.TokenStreamDecoder;
import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * One sequence of the scheduler's KV cache: the tokens whose keys and values it holds (kept after a request ends, for
 * the next request that starts the same way), and the state of the request running in it. Used by the scheduler
 * thread only.
 */
final class Slot {

    enum State { IDLE, PREFILL, DECODE, EMBED }

    final int index;
    final int contextSize;
    /** Tokens whose keys and values are in this slot's region of the cache: the first {@link #cached}. */
    int[] tokens;
    int cached;
    /** The scheduler step at which the slot was last released (least recently used first). */
    long releasedAt;

    State state = State.IDLE;
    Job job;

    // A generation: the prompt's tokens are tokens[0 .. promptLength); those below `cached` are computed.
    int promptLength;
    int reusedTokens;
    Sampler sampler;
    TokenStreamDecoder decoder;
    StopStrings stops;
    int generated;
    /** The last sampled token, not yet run through the model (its keys and values are not in the cache yet). */
    int pendingToken;
    /** Characters produced by the decoder so far, and characters released to the client (the rest is held back). */
    long producedChars;
    long shownChars;
    /** Log-probabilities of tokens whose text has not been shown yet, with where their text ends. */
    final ArrayDeque<PendingLogprobs> pendingLogprobs = new ArrayDeque<>();

    // An embedding: inputs one after the other, their pooled sums.
    int input;
    double[] poolSum;
    float[][] embeddings;

    record PendingLogprobs(TokenLogprobs logprobs, long textStart, long textEnd) {
    }

    Slot(int index, int contextSize) {
        this.index = index;
        this.contextSize = contextSize;
        this.tokens = new int[Math.min(contextSize, 256)];
    }

    boolean idle() {
        return state == State.IDLE;
    }

    /** The number of leading tokens of {@code prompt} this slot holds. */
    int commonPrefix(int[] prompt) {
        int n = Math.min(cached, prompt.length);
        int i = 0;
        while (i < n && tokens[i] == prompt[i]) {
            i++;
        }
        return i;
    }

    /** Puts {@code token} at position {@code at} of the slot's token list (its keys and values are computed). */
    void setToken(int at, int token) {
        if (at >= tokens.length) {
            tokens = Arrays.copyOf(tokens, Math.min(contextSize, Math.max(at + 1, 2 * tokens.length)));
        }
        tokens[at] = token;
    }

    /** Ends the request: the slot keeps its cached tokens for later requests. */
    void release(long step) {
        state = State.IDLE;
        job = null;
        sampler = null;
        decoder = null;
        stops = null;
        pendingLogprobs.clear();
        poolSum = null;
        embeddings = null;
        releasedAt = step;
    }
}
