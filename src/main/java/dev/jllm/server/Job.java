package dev.jllm.server;

import dev.jllm.sampling.SamplerOptions;
import dev.jllm.sampling.TokenLogprobs;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Work handed from an HTTP handler to the scheduler. The handler waits on the job's events (or its future); the
 * scheduler thread alone runs it. {@link #cancel} (a client gone, a shutdown) is a flag the scheduler reads between
 * steps.
 */
abstract sealed class Job permits Job.Generate, Job.Embed {

    private static final AtomicLong SEQUENCE = new AtomicLong();

    final long sequence = SEQUENCE.incrementAndGet();
    final long createdNanos = System.nanoTime();
    private volatile boolean cancelled;

    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    /** Why a generation ended, as OpenAI's {@code finish_reason}. */
    enum FinishReason {
        /** End of text, end of turn, or a stop string. */
        STOP("stop"),
        /** {@code max_tokens} reached, or the slot's context is full. */
        LENGTH("length");

        final String openAi;

        FinishReason(String openAi) {
            this.openAi = openAi;
        }
    }

    /** Token counts of a finished request, for {@code usage}. */
    record Usage(int promptTokens, int completionTokens, int cachedTokens) {
    }

    /** What a generation tells its handler, in order: deltas, then one Done or Failed. */
    sealed interface Event permits Delta, Done, Failed {
    }

    /** Text that can be shown for good, with the log-probabilities of the tokens it completes (when asked for). */
    record Delta(String text, List<TokenLogprobs> logprobs) implements Event {
    }

    record Done(FinishReason reason, Usage usage) implements Event {
    }

    record Failed(ApiException error) implements Event {
    }

    /**
     * A completion: the prompt's tokens and how to sample its continuation.
     *
     * @param maxTokens      tokens to generate at most; negative: until the end of text or a full context
     * @param stops          stop strings (never shown)
     * @param endOfTurnToken a token that ends the answer besides the tokenizer's end-of-generation tokens, or -1
     * @param topLogprobs    -1: no log-probabilities; otherwise how many of the most likely tokens to report (0..20)
     * @param ignoreEos      go on past end-of-text tokens (llama.cpp's {@code ignore_eos}, for benchmarks)
     */
    record Spec(int[] prompt, SamplerOptions sampler, int maxTokens, List<String> stops, int endOfTurnToken,
            int topLogprobs, boolean ignoreEos) {
    }

    static final class Generate extends Job {
        final Spec spec;
        final BlockingQueue<Event> events = new LinkedBlockingQueue<>();

        Generate(Spec spec) {
            this.spec = spec;
        }

        void emit(Event e) {
            events.add(e);
        }
    }

    /** Embeddings of several inputs, one after the other in one slot. */
    static final class Embed extends Job {
        final List<int[]> inputs;
        final CompletableFuture<float[][]> result = new CompletableFuture<>();

        Embed(List<int[]> inputs) {
            this.inputs = inputs;
        }
    }
}
