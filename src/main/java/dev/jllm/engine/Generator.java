package dev.jllm.engine;

import dev.jllm.sampling.LogitBias;
import dev.jllm.sampling.Sampler;
import dev.jllm.sampling.SamplerOptions;
import dev.jllm.sampling.TokenLogprobs;
import dev.jllm.tokenizer.TokenStreamDecoder;
import dev.jllm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/** Text in, text out: tokenizes a prompt, runs it, samples until a stop condition, and streams the text. */
public final class Generator {

    private Generator() {
    }

    /**
     * Generates a continuation of {@code prompt} in a fresh session.
     *
     * @param onText receives text as it becomes complete (never half of a UTF-8 character): first the prompt as the
     *               tokenizer reads it back, then each piece of the continuation (text that may begin a stop string
     *               is held back until it is known not to; a stop string is never passed on); may be null
     */
    public static Generation generate(Model model, Session session, String prompt, GenerationOptions options,
            Consumer<String> onText) {
        Tokenizer tokenizer = model.tokenizer();
        boolean addBos = options.addBos() != null ? options.addBos() : tokenizer.addBosByDefault();
        int[] promptIds = tokenizer.encode(prompt, addBos, options.parseSpecial());
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty and the model adds no BOS token: nothing to start from");
        }
        if (promptIds.length >= session.contextSize()) {
            throw new IllegalArgumentException("the prompt is " + promptIds.length + " tokens but the context holds "
                    + session.contextSize() + " (raise --ctx-size, up to the model's " + model.config().contextLength()
                    + ", or shorten the prompt)");
        }
        Consumer<String> sink = onText != null ? onText : s -> { };
        TokenStreamDecoder decoder = new TokenStreamDecoder(tokenizer);
        for (int id : promptIds) {
            emit(sink, decoder.accept(id));
        }
        session.reset();
        long t0 = System.nanoTime();
        float[] logits = session.append(promptIds);
        long t1 = System.nanoTime();

        int vocab = model.config().vocabSize();
        Sampler sampler = new Sampler(options.ignoreEos() ? withoutEndOfGeneration(options.sampler(), tokenizer, vocab)
                : options.sampler());
        StopStrings stops = new StopStrings(options.stops());
        List<TokenLogprobs> probabilities = new ArrayList<>();
        int[] generated = new int[16];
        int count = 0;
        StringBuilder text = new StringBuilder();
        Generation.StopReason reason;
        while (true) {
            if (options.maxTokens() >= 0 && count >= options.maxTokens()) {
                reason = Generation.StopReason.MAX_TOKENS;
                break;
            }
            int[] history = session.tokens();
            int next = sampler.sample(logits, 0, vocab, history, history.length);
            if (tokenizer.isEndOfGeneration(next)) {
                reason = Generation.StopReason.END_OF_TEXT;
                break;
            }
            if (count == generated.length) {
                generated = Arrays.copyOf(generated, 2 * count);
            }
            generated[count++] = next;
            if (options.topProbabilities() > 0) {
                probabilities.add(TokenLogprobs.of(logits, 0, vocab, next, options.topProbabilities()));
            }
            String shown = stops.accept(decoder.accept(next));
            text.append(shown);
            emit(sink, shown);
            if (stops.stopped()) {
                reason = Generation.StopReason.STOP_STRING;
                break;
            }
            if (session.length() >= session.contextSize()) {
                reason = Generation.StopReason.CONTEXT_FULL;
                break;
            }
            if (options.maxTokens() >= 0 && count >= options.maxTokens()) {
                reason = Generation.StopReason.MAX_TOKENS;
                break;
            }
            logits = session.append(next);
        }
        if (!stops.stopped()) {
            String rest = stops.accept(decoder.flush());
            rest += stops.stopped() ? "" : stops.flush();
            text.append(rest);
            emit(sink, rest);
        }
        long t2 = System.nanoTime();
        return new Generation(promptIds, Arrays.copyOf(generated, count), text.toString(), reason, t1 - t0, t2 - t1,
                probabilities, stops.matched());
    }

    /** --ignore-eos, as llama.cpp does it: a logit bias of -inf on every end-of-generation token. */
    private static SamplerOptions withoutEndOfGeneration(SamplerOptions sampler, Tokenizer tokenizer, int vocab) {
        List<LogitBias> biases = new ArrayList<>(sampler.logitBias());
        IntStream.range(0, vocab).filter(tokenizer::isEndOfGeneration)
                .forEach(id -> biases.add(new LogitBias(id, Float.NEGATIVE_INFINITY)));
        return sampler.withLogitBias(biases);
    }

    private static void emit(Consumer<String> sink, String s) {
        if (!s.isEmpty()) {
            sink.accept(s);
        }
    }
}
