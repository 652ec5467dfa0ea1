package dev.jllm.cli;

import dev.jllm.hub.HubClient;
import dev.jllm.hub.HubException;
import dev.jllm.hub.ModelPuller;
import dev.jllm.hub.ModelRef;
import dev.jllm.hub.PulledModel;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** How to reach the Hugging Face Hub and where to keep what comes from it: for pull and for -hf. */
final class HubOptions {

    @Option(names = "--revision", paramLabel = "REV", defaultValue = "main",
            description = "Branch, tag or commit of the repository (default ${DEFAULT-VALUE}).")
    String revision;

    @Option(names = "--endpoint", paramLabel = "URL",
            description = "The Hub or a mirror (default: $HF_ENDPOINT, else https://huggingface.co).")
    String endpoint;

    @Option(names = "--token", paramLabel = "TOKEN",
            description = "Access token for gated or private models (default: $HF_TOKEN); sent to the Hub only, never printed.")
    String token;

    @Option(names = "--offline",
            description = "Never use the network (also when $HF_HUB_OFFLINE=1): the model must be in the cache.")
    boolean offline;

    @Option(names = "--retries", paramLabel = "N", defaultValue = "4",
            description = "Attempts per request or file before giving up, waiting 0.5 s, 1 s, 2 s, ... between them"
                    + " (default ${DEFAULT-VALUE}); a transfer that made progress gets new attempts.")
    int retries;

    @Option(names = "--hub-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "A listing must arrive whole within this, and a download bring at least 1 KiB/s over each"
                    + " such window, else the request is cut and retried (default ${DEFAULT-VALUE}).")
    double timeoutSeconds;

    @Mixin
    CacheDirOption cacheDir = new CacheDirOption();

    /** Pulls (or finds in the cache) the model {@code refText} names; Hub failures become one-line user errors. */
    PulledModel pull(String refText, PrintStream err) {
        Map<String, String> env = System.getenv();
        try {
            ModelRef ref = ModelRef.parse(refText);
            if (retries < 1) {
                throw new UserInputException("--retries must be at least 1, got " + retries);
            }
            if (!(timeoutSeconds > 0 && timeoutSeconds <= 86_400)) {
                throw new UserInputException("--hub-timeout must be between 0 and 86400 seconds, got "
                        + timeoutSeconds);
            }
            HubClient.Options options = HubClient.Options.fromEnvironment(env, endpoint, token);
            options = options.withRetries(retries, options.initialBackoff())
                    .withTimeouts(options.connectTimeout(), Duration.ofMillis(Math.round(timeoutSeconds * 1000)));
            boolean noNetwork = offline || "1".equals(env.get("HF_HUB_OFFLINE"));
            return new ModelPuller(cacheDir.cache(), options, new CliProgress(err)).pull(ref, revision, noNetwork);
        } catch (HubException e) {
            throw new UserInputException(e.getMessage(), e);
        }
    }
}
