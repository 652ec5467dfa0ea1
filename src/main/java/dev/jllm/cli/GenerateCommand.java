package dev.jllm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.engine.Generation;
import dev.jllm.engine.GenerationOptions;
import dev.jllm.engine.Generator;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.sampling.SamplerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Continue a prompt: streams the prompt and the generated text to stdout, speed to stderr.")
final class GenerateCommand extends IoCommand implements Runnable {

    enum OutputFormat { text, json }

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-p", "--prompt"}, required = true, paramLabel = "TEXT", description = "The prompt.")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "-1",
            description = "Tokens to generate (default ${DEFAULT-VALUE}: until end of text or a full context).")
    int maxTokens;

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

    @Mixin
    ChatTemplateOptions chatTemplateOptions;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text (stream) or json (one object with ids, text and timings). Default ${DEFAULT-VALUE}.")
    OutputFormat format;

    @Override
    public void run() {
        Timeline.mark("command");
        SamplerOptions sampling = samplingOptions.toSamplerOptions();
        try (Model model = modelOptions.load()) {
            Timeline.mark("loaded");
            int ctx = modelOptions.contextSize(model, err);
            Session session = model.newSession(new SessionOptions(ctx, prefill, !noKvCache, modelOptions.cacheType()));
            boolean asChat = chat || chatTemplateOptions.chatTemplate != null;
            String text = asChat ? chatTemplateOptions.userPrompt(model, prompt) : prompt;
            GenerationOptions options = new GenerationOptions(maxTokens, sampling, noBos ? Boolean.FALSE : null,
                    parseSpecial || asChat);
            boolean stream = format == OutputFormat.text;
            Generation g = Generator.generate(model, session, text, options, stream ? this::print : null);
            Timeline.mark("generated");
            if (stream) {
                out.println();
                out.flush();
                if (g.stopReason() == Generation.StopReason.CONTEXT_FULL) {
                    err.printf("jllm: stopped: the context of %d tokens is full (raise --ctx-size)%n", ctx);
                } else if (g.stopReason() == Generation.StopReason.END_OF_TEXT) {
                    err.println("jllm: stopped: end of text");
                }
                err.printf("prompt:     %d tokens in %.1f ms (%.2f tokens/s)%n", g.promptIds().length,
                        g.promptNanos() / 1e6, g.promptTokensPerSecond());
                err.printf("generation: %d tokens in %.1f ms (%.2f tokens/s)%n", g.generatedIds().length,
                        g.generateNanos() / 1e6, g.generateTokensPerSecond());
            } else {
                out.println(json(g));
            }
            if (Timeline.ENABLED) {
                err.printf("timing: of 'generated': prompt %.0f ms, generation %.0f ms%n", g.promptNanos() / 1e6,
                        g.generateNanos() / 1e6);
                Timeline.print(err);
            }
        }
    }

    private void print(String text) {
        out.print(text);
        out.flush();
    }

    private static String json(Generation g) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.putPOJO("prompt_ids", g.promptIds());
        root.putPOJO("generated_ids", g.generatedIds());
        root.put("text", g.text());
        root.put("stop_reason", g.stopReason().name().toLowerCase(java.util.Locale.ROOT));
        ObjectNode timings = root.putObject("timings");
        timings.put("prompt_tokens", g.promptIds().length);
        timings.put("prompt_ms", g.promptNanos() / 1e6);
        timings.put("prompt_tokens_per_second", g.promptTokensPerSecond());
        timings.put("generated_tokens", g.generatedIds().length);
        timings.put("generation_ms", g.generateNanos() / 1e6);
        timings.put("generation_tokens_per_second", g.generateTokensPerSecond());
        try {
            return mapper.writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
