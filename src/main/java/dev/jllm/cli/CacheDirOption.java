package dev.jllm.cli;

import dev.jllm.hub.ModelCache;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where the model cache is: shared by pull, list, rm and every command that takes -hf. */
final class CacheDirOption {

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Model cache (default: $JLLM_CACHE, else ~/.cache/jllm).")
    Path cacheDir;

    ModelCache cache() {
        return new ModelCache(cacheDir != null ? cacheDir : ModelCache.defaultRoot(System.getenv()));
    }
}
