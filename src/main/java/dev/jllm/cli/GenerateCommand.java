package dev.jllm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.engine.Generation;
import dev.jllm.engine.GenerationOptions;
import dev.jllm.engine.Generator;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.io.Printable;
import dev.jllm.sampling.SamplerOptions;
import dev.jllm.sampling.TokenLogprobs;
import dev.jllm.tokenizer.RawUtf8;
import dev.jllm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Continue a prompt: streams the prompt and the generated text to stdout, speed to stderr.")
final class GenerateCommand extends IoCommand implements Callable<Integer> {

    enum OutputFormat { text, json }

    /** Exit code when standard output fails (closed by the reader, or full): generation stops at once. */
    static final int EXIT_OUTPUT_FAILED = 1;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT",
            description = "The prompt; - reads it from standard input, as does no -p and no -f when input is piped.")
    String prompt;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the prompt from a file.")
    Path promptFile;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "-1",
            description = "Tokens to generate (default ${DEFAULT-VALUE}: until end of text or a full context).")
    int maxTokens;

    @Option(names = "--ignore-eos", description = "Never end at the end-of-text token (it cannot be sampled), as llama.cpp.")
    boolean ignoreEos;

    @Option(names = {"-r", "--reverse-prompt", "--stop"}, paramLabel = "TEXT",
            description = "Stop where the generated text contains TEXT (which may span tokens and is not printed)."
                    + " Repeatable.")
    List<String> stops = new ArrayList<>();

    @Option(names = "--n-probs", paramLabel = "N", defaultValue = "0",
            description = "Show the N most likely tokens at each step with their probabilities (from the model's"
                    + " logits): on stderr after the text, or in --format json. Default ${DEFAULT-VALUE}.")
    int topProbabilities;

    @Mixin
    SamplingOptions samplingOptions;

    @Option(names = "--prefill", paramLabel = "MODE", defaultValue = "batch",
            description = "Prompt processing: batch (one forward pass) or token (one token at a time). Default ${DEFAULT-VALUE}.")
    SessionOptions.Prefill prefill;

    @Option(names = "--no-kv-cache", description = "Recompute the whole sequence at every step (slow; for checking).")
    boolean noKvCache;

    @Option(names = "--no-bos", description = "Do not start the prompt with BOS.")
    boolean noBos;

    @Option(names = "--parse-special", description = "Turn special-token texts in the prompt (e.g. <s>) into special tokens.")
    boolean parseSpecial;

    @Option(names = "--chat", description = "Format the prompt as one user message with the chat template (see --chat-template).")
    boolean chat;

    @Option(names = {"-sys", "--system-prompt"}, paramLabel = "TEXT",
            description = "A system message before the prompt's user message (implies --chat), as llama.cpp's -sys.")
    String systemPrompt;

    @Option(names = {"-cnv", "--conversation"},
            description = "llama.cpp's conversation mode: run jllm chat with these options (-p or -sys is the system"
                    + " prompt).")
    boolean conversation;

    @Mixin
    ChatTemplateOptions chatTemplateOptions;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text (stream) or json (one object with ids, text, seed and timings). Default ${DEFAULT-VALUE}.")
    OutputFormat format;

    /** Standard output failed: generation stops at the next token instead of running on for nobody. */
    private static final class OutputFailed extends RuntimeException {
        OutputFailed() {
            super("standard output failed", null, false, false);
        }
    }

    /** -n: -1 is llama.cpp's "until the end", other negative counts are mistakes. */
    static void checkMaxTokens(int n) {
        if (n < -1) {
            throw new UserInputException("-n must be -1 (until the end of text or a full context) or 0 or more, got " + n);
        }
    }

    @Override
    public Integer call() {
        Timeline.mark("command");
        checkMaxTokens(maxTokens);
        if (topProbabilities < 0) {
            throw new UserInputException("--n-probs must be 0 or more, got " + topProbabilities);
        }
        if (conversation) {
            return converse();
        }
        String promptText = promptText();
        try (Model model = modelOptions.load()) {
            Timeline.mark("loaded");
            model.startWarmUp();
            int ctx = modelOptions.contextSize(model, err);
            SamplerOptions sampling = samplingOptions.toSamplerOptions(model.config().vocabSize());
            if (modelOptions.verbose) {
                err.println("jllm: seed " + sampling.seed());
                err.println("jllm: samplers " + SamplingOptions.describe(sampling));
            }
            Session session = model.newSession(new SessionOptions(ctx, prefill, !noKvCache, modelOptions.cacheType()));
            boolean asChat = chat || systemPrompt != null || chatTemplateOptions.chatTemplate != null;
            String text = asChat ? chatTemplateOptions.userPrompt(model, systemPrompt, promptText) : promptText;
            GenerationOptions options = new GenerationOptions(maxTokens, sampling, noBos ? Boolean.FALSE : null,
                    parseSpecial || asChat, ignoreEos, stops, topProbabilities);
            boolean stream = format == OutputFormat.text;
            Generation g;
            String warmup = model.awaitWarmUp();
            Timeline.mark("warm");
            if (warmup != null && (Timeline.ENABLED || modelOptions.verbose && warmup.contains("ended by"))) {
                err.println("jllm: warm-up: " + warmup);
            }
            try {
                g = Generator.generate(model, session, text, options, stream ? this::print : null);
            } catch (OutputFailed e) {
                err.println("jllm: stopped: standard output is closed (or cannot be written)");
                return EXIT_OUTPUT_FAILED;
            }
            Timeline.mark("generated");
            if (stream) {
                out.println();
                out.flush();
                if (g.stopReason() == Generation.StopReason.CONTEXT_FULL) {
                    err.printf("jllm: stopped: the context of %d tokens is full (raise --ctx-size)%n", ctx);
                } else if (g.stopReason() == Generation.StopReason.END_OF_TEXT) {
                    err.println("jllm: stopped: end of text");
                } else if (g.stopReason() == Generation.StopReason.STOP_STRING) {
                    err.println("jllm: stopped: stop string '" + Printable.escape(g.stopString()) + "'");
                }
                if (topProbabilities > 0) {
                    printProbabilities(g, model.tokenizer());
                }
                err.printf("prompt:     %d tokens in %.1f ms (%.2f tokens/s)%n", g.promptIds().length,
                        g.promptNanos() / 1e6, g.promptTokensPerSecond());
                if (decodedTokens(g) > 0) {
                    err.printf("generation: %d tokens in %.1f ms (%.2f tokens/s)%n", g.generatedIds().length,
                            g.generateNanos() / 1e6, g.generateTokensPerSecond());
                } else {
                    err.printf("generation: %d tokens (no speed: none came from a decoding step)%n",
                            g.generatedIds().length);
                }
            } else {
                out.println(json(g, sampling.seed(), model.tokenizer()));
            }
            if (Timeline.ENABLED) {
                err.printf("timing: of 'generated': prompt %.0f ms, generation %.0f ms%n", g.promptNanos() / 1e6,
                        g.generateNanos() / 1e6);
                Timeline.print(err);
            }
            return out.checkError() ? EXIT_OUTPUT_FAILED : 0;
        }
    }

    /** -cnv: llama.cpp's conversation mode is jllm chat, with -p (or -sys) as the system prompt. */
    private int converse() {
        if (prompt != null && systemPrompt != null) {
            throw new UserInputException("with -cnv, give the system prompt as -sys or -p, not both");
        }
        if (promptFile != null) {
            throw new UserInputException("-f cannot be used with -cnv (the conversation reads standard input)");
        }
        if (topProbabilities > 0) {
            throw new UserInputException("--n-probs cannot be used with -cnv (jllm chat does not show probabilities)");
        }
        ChatCommand chatCommand = new ChatCommand();
        chatCommand.streams(out, err);
        chatCommand.input(in, inIsTerminal);
        chatCommand.modelOptions = modelOptions;
        chatCommand.samplingOptions = samplingOptions;
        chatCommand.reversePrompts = stops;
        chatCommand.chatTemplateOptions = chatTemplateOptions;
        chatCommand.system = systemPrompt != null ? systemPrompt : prompt;
        chatCommand.maxTokens = maxTokens;
        chatCommand.run();
        return 0;
    }

    /**
     * The prompt of -p, -f or standard input (for -p -, or for neither when input is piped). Bytes that are not UTF-8
     * are kept (as byte tokens), with one warning; one trailing newline of a file or of piped text is dropped, as
     * llama.cpp does.
     */
    private String promptText() {
        if (prompt != null && promptFile != null) {
            throw new UserInputException("give the prompt as -p TEXT or -f FILE, not both");
        }
        if (prompt != null && !prompt.equals("-")) {
            return prompt;
        }
        byte[] bytes;
        String source;
        if (promptFile != null) {
            source = promptFile.toString();
            try {
                bytes = Files.readAllBytes(promptFile);
            } catch (NoSuchFileException e) {
                throw new UserInputException(promptFile + ": no such file");
            } catch (IOException e) {
                throw new UserInputException(promptFile + ": cannot be read (" + e.getMessage() + ")");
            }
        } else {
            if (prompt == null && inIsTerminal) {
                throw new UserInputException("no prompt: give -p TEXT, -f FILE, or pipe the prompt into standard input");
            }
            source = "standard input";
            try {
                bytes = in.readAllBytes();
            } catch (IOException e) {
                throw new UserInputException("cannot read standard input (" + e.getMessage() + ")");
            }
        }
        String text = RawUtf8.decode(bytes);
        if (RawUtf8.hasEscapedBytes(text)) {
            err.println("jllm: warning: " + source + " is not valid UTF-8; its other bytes are kept as they are"
                    + " (byte tokens)");
        }
        return text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
    }

    private void print(String text) {
        out.print(text);
        out.flush();
        if (out.checkError()) {
            throw new OutputFailed();
        }
    }

    /** Generated tokens that came from a decoding step (the first comes from the prompt's logits). */
    private static int decodedTokens(Generation g) {
        return Math.max(0, g.generatedIds().length - 1);
    }

    /** One line per generated token: its piece and probability, then the most likely tokens of that step. */
    private void printProbabilities(Generation g, Tokenizer tokenizer) {
        err.printf("jllm: the %d most likely tokens at each step (probabilities from the model's logits):%n",
                topProbabilities);
        int width = Integer.toString(g.probabilities().size()).length();
        for (int i = 0; i < g.probabilities().size(); i++) {
            TokenLogprobs step = g.probabilities().get(i);
            StringBuilder line = new StringBuilder();
            line.append(String.format(Locale.ROOT, "%" + width + "d %s %.4f |", i + 1, quoted(tokenizer, step.token()),
                    Math.exp(step.logprob())));
            for (int k = 0; k < step.topTokens().length; k++) {
                line.append(String.format(Locale.ROOT, " %s %.4f", quoted(tokenizer, step.topTokens()[k]),
                        Math.exp(step.topLogprobs()[k])));
            }
            err.println(line);
        }
    }

    /** A token's text in quotes, its control characters escaped (it is printed to a terminal). */
    private static String quoted(Tokenizer tokenizer, int id) {
        return "'" + Printable.escape(tokenText(tokenizer, id)) + "'";
    }

    private static String tokenText(Tokenizer tokenizer, int id) {
        return new String(tokenizer.renderBytes(id), StandardCharsets.UTF_8);
    }

    private static ObjectNode candidate(ObjectNode node, Tokenizer tokenizer, int id, float logprob) {
        node.put("id", id);
        node.put("token", tokenText(tokenizer, id));
        ArrayNode bytes = node.putArray("bytes");
        for (byte b : tokenizer.renderBytes(id)) {
            bytes.add(b & 0xFF);
        }
        node.put("logprob", logprob);
        node.put("prob", Math.exp(logprob));
        return node;
    }

    private static String json(Generation g, long seed, Tokenizer tokenizer) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.putPOJO("prompt_ids", g.promptIds());
        root.putPOJO("generated_ids", g.generatedIds());
        root.put("text", g.text());
        root.put("stop_reason", g.stopReason().name().toLowerCase(java.util.Locale.ROOT));
        if (g.stopString() != null) {
            root.put("stopping_word", g.stopString());
        }
        root.put("seed", seed);
        if (!g.probabilities().isEmpty()) { // llama-server's completion_probabilities, with probabilities too
            ArrayNode steps = root.putArray("completion_probabilities");
            for (TokenLogprobs step : g.probabilities()) {
                ObjectNode node = candidate(steps.addObject(), tokenizer, step.token(), step.logprob());
                ArrayNode top = node.putArray("top_logprobs");
                for (int k = 0; k < step.topTokens().length; k++) {
                    candidate(top.addObject(), tokenizer, step.topTokens()[k], step.topLogprobs()[k]);
                }
            }
        }
        ObjectNode timings = root.putObject("timings");
        timings.put("prompt_tokens", g.promptIds().length);
        timings.put("prompt_ms", g.promptNanos() / 1e6);
        timings.put("prompt_tokens_per_second", g.promptTokensPerSecond());
        timings.put("generated_tokens", g.generatedIds().length);
        timings.put("generation_ms", g.generateNanos() / 1e6);
        if (decodedTokens(g) > 0) { // absent, not 0.0, when no token came from a decoding step
            timings.put("generation_tokens_per_second", g.generateTokensPerSecond());
        }
        try {
            return mapper.writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
