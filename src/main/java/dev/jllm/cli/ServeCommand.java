package dev.jllm.cli;

import dev.jllm.chat.ChatTemplate;
import dev.jllm.chat.ChatTemplateException;
import dev.jllm.engine.Model;
import dev.jllm.server.JllmServer;
import dev.jllm.server.ServerOptions;
import java.io.IOException;
import java.net.BindException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions,"
                + " /v1/embeddings, /v1/models, /health, /metrics, /tokenize, /detokenize) with continuous batching,"
                + " prompt caching, and a chat page at /.",
            "--ctx-size is the whole KV cache, split evenly among the --parallel slots (as llama-server does)."
                + " SIGTERM or Ctrl-C stops accepting, lets running requests finish (up to --shutdown-grace) and exits."})
final class ServeCommand extends IoCommand implements Runnable {

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    ChatTemplateOptions chatTemplateOptions;

    @Option(names = "--host", paramLabel = "ADDRESS", defaultValue = "127.0.0.1",
            description = "Address to listen on (default ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "8080",
            description = "Port to listen on (default ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", defaultValue = "4",
            description = "Slots: requests generated at once in one batch (default ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require \"Authorization: Bearer KEY\" on every route but /health and the page's files"
                    + " (several keys: comma-separated).")
    String apiKey;

    @Option(names = "--api-key-file", paramLabel = "FILE", description = "Read the API keys from a file, one per line.")
    Path apiKeyFile;

    @Option(names = {"-a", "--alias"}, paramLabel = "NAME", description = "Model name the API reports (default: the file's name).")
    String alias;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N", defaultValue = "512",
            description = "Tokens per forward pass at most (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--prefill-chunk", paramLabel = "N", defaultValue = "64",
            description = "Prompt tokens per forward pass at most while other requests are generating, so their"
                    + " streams do not stall (default ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "64",
            description = "Requests that may wait for a free slot; more get 503 with Retry-After (default ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-body", paramLabel = "BYTES", defaultValue = "8388608",
            description = "Largest request body accepted; larger ones get 413 (default ${DEFAULT-VALUE}).")
    long maxBody;

    @Option(names = "--shutdown-grace", paramLabel = "SECONDS", defaultValue = "10",
            description = "On SIGTERM, how long running requests may go on before they are cancelled (default ${DEFAULT-VALUE}).")
    int shutdownGrace;

    @Option(names = "--step-delay", paramLabel = "MS", defaultValue = "0", hidden = true,
            description = "Pause after each scheduler step (for demonstrations and tests of streaming).")
    int stepDelay;

    @Override
    public void run() {
        List<String> keys = apiKeys();
        if (shutdownGrace < 0) {
            throw new UserInputException("--shutdown-grace must be 0 or more, got " + shutdownGrace);
        }
        Model model = modelOptions.load();
        JllmServer server = null;
        try {
            int context = modelOptions.contextSize(model, err);
            String name = alias != null ? alias : model.file().path().getFileName().toString();
            ServerOptions options;
            try {
                options = new ServerOptions(host, port, parallel, context, batchSize, prefillChunk, maxQueue, maxBody,
                        keys, name, modelOptions.cacheType(), stepDelay, shutdownGrace * 1000L);
            } catch (IllegalArgumentException e) {
                throw new UserInputException(e.getMessage());
            }
            ChatTemplate template = template(model);
            try {
                server = JllmServer.bind(options, err);
            } catch (BindException e) {
                throw new UserInputException("cannot listen on " + host + ":" + port + ": " + e.getMessage());
            } catch (IOException e) {
                throw new UserInputException("cannot listen on " + host + ":" + port + ": " + e.getMessage(), e);
            }
            err.printf("jllm serve: listening on %s, warming up %s (%d slots x %d tokens)%n", server.url(),
                    model.file().path().getFileName(), options.parallel(), options.slotContext());
            CountDownLatch stopped = new CountDownLatch(1);
            JllmServer running = server;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                err.println("jllm serve: shutting down");
                running.shutdown();
                model.close();
                err.println("jllm serve: stopped");
                out.flush();
                err.flush();
                stopped.countDown();
                Runtime.getRuntime().halt(0); // an orderly stop, whatever signal asked for it
            }, "jllm-shutdown"));
            server.serve(model, template);
            out.printf("jllm serve: ready on %s, model %s (%s), %d slots x %d tokens, chat template %s%n",
                    server.url(), name, model.file().path().getFileName(), options.parallel(), options.slotContext(),
                    template != null ? template.name() : "none");
            out.flush();
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (server != null) {
                server.shutdown();
            }
            model.close();
            throw e;
        }
    }

    /** The template asked for, else the model's own, else none (then chat requests get a 400 that says so). */
    private ChatTemplate template(Model model) {
        if (chatTemplateOptions.chatTemplate != null) {
            return chatTemplateOptions.resolve(model.file());
        }
        try {
            return chatTemplateOptions.resolve(model.file());
        } catch (ChatTemplateException e) {
            err.println("jllm serve: warning: the model file has no chat template; /v1/chat/completions will refuse"
                    + " requests (choose one with --chat-template)");
            return null;
        }
    }

    private List<String> apiKeys() {
        List<String> keys = new ArrayList<>();
        if (apiKey != null) {
            for (String k : apiKey.split(",")) {
                if (!k.isBlank()) {
                    keys.add(k.strip());
                }
            }
            if (keys.isEmpty()) {
                throw new UserInputException("--api-key is empty");
            }
        }
        if (apiKeyFile != null) {
            List<String> lines;
            try {
                lines = Files.readAllLines(apiKeyFile, StandardCharsets.UTF_8);
            } catch (NoSuchFileException e) {
                throw new UserInputException(apiKeyFile + ": no such file (--api-key-file)");
            } catch (IOException e) {
                throw new UserInputException(apiKeyFile + ": cannot read (" + e.getMessage() + ")");
            }
            int before = keys.size();
            for (String line : lines) {
                if (!line.isBlank() && !line.strip().startsWith("#")) {
                    keys.add(line.strip());
                }
            }
            if (keys.size() == before) {
                throw new UserInputException(apiKeyFile + ": no API key in the file (one per line)");
            }
        }
        return keys;
    }
}
