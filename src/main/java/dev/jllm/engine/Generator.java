package dev.jllm.engine;

import dev.jllm.sampling.Sampler;
import dev.jllm.tokenizer.TokenStreamDecoder;
import dev.jllm.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.function.Consumer;

/** Text in, text out: tokenizes a prompt, runs it, samples until a stop condition, and streams the text. */
public final class Generator {

    private Generator() {
    }

    /**
     * Generates a continuation of {@code prompt} in a fresh session.
     *
     * @param onText receives text as it becomes complete (never half of a UTF-8 character): first the prompt as the
     *               tokenizer reads it back, then each piece of the continuation; may be null
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

        Sampler sampler = new Sampler(options.sampler());
        int vocab = model.config().vocabSize();
        int[] endOfGeneration = options.ignoreEos() ? endOfGenerationIds(tokenizer, vocab) : new int[0];
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
            for (int id : endOfGeneration) {
                logits[id] = Float.NEGATIVE_INFINITY; // --ignore-eos: as llama.cpp, a logit bias that rules them out
            }
            int next = sampler.sample(logits, 0, vocab, history, history.length);
            if (tokenizer.isEndOfGeneration(next)) {
                reason = Generation.StopReason.END_OF_TEXT;
                break;
            }
            if (count == generated.length) {
                generated = Arrays.copyOf(generated, 2 * count);
            }
            generated[count++] = next;
            String piece = decoder.accept(next);
            text.append(piece);
            emit(sink, piece);
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
        String rest = decoder.flush();
        text.append(rest);
        emit(sink, rest);
        long t2 = System.nanoTime();
        return new Generation(promptIds, Arrays.copyOf(generated, count), text.toString(), reason, t1 - t0, t2 - t1);
    }

    private static int[] endOfGenerationIds(Tokenizer tokenizer, int vocab) {
        return java.util.stream.IntStream.range(0, vocab).filter(tokenizer::isEndOfGeneration).toArray();
    }

    private static void emit(Consumer<String> sink, String s) {
        if (!s.isEmpty()) {
            sink.accept(s);
        }
    }
}
