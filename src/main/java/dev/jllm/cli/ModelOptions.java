package dev.jllm.cli;

import dev.jllm.engine.Model;
import dev.jllm.model.KvCache;
import dev.jllm.tensor.Parallel;
import java.io.PrintStream;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Options every command that runs a model shares. */
final class ModelOptions {

    @Option(names = {"-m", "--model"}, paramLabel = "FILE",
            description = "Model file: GGUF, llama2.c checkpoint (.bin), flat FP16 binary, or a Hugging Face directory"
                    + " (config.json + safetensors). Give -m or -hf.")
    Path model;

    @Option(names = {"-hf", "--hf-repo"}, paramLabel = "REPO[:FILE]",
            description = "A model on the Hugging Face Hub (e.g. TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M):"
                    + " pulled into the cache unless it is there, then run. See jllm pull.")
    String hfRepo;

    @Mixin
    HubOptions hub = new HubOptions();

    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "Tokenizer file for formats that keep it apart (llama2.c tokenizer.bin). Default: the model's own,"
                    + " or tokenizer.bin beside a llama2.c checkpoint.")
    Path tokenizer;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all ${sys:jllm.cores} cores).")
    Integer threads;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N",
            description = "Context size in tokens (default: the model's, at most 4096).")
    Integer contextSize;

    @Option(names = "--cache-type", paramLabel = "TYPE", defaultValue = "f16",
            description = "KV cache storage: f16 (llama.cpp's default) or f32 (llama2.c's). Default ${DEFAULT-VALUE}.")
    String cacheType;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    static {
        System.setProperty("jllm.cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
    }

    Model load() {
        if (threads != null) {
            if (threads < 1) {
                throw new UserInputException("--threads must be at least 1, got " + threads);
            }
            int cores = Parallel.availableCores();
            if (threads > cores) {
                PrintStream err = mixee != null && mixee.userObject() instanceof IoCommand io ? io.err : System.err;
                err.println("jllm: warning: --threads " + threads + " is more than the " + cores
                        + " cores available to this process; extra threads only wait for a core");
            }
            Parallel.configure(threads);
        }
        return Model.load(modelPath(), tokenizer);
    }

    /** The local file given by -m, or the cached path of the -hf model (pulled first when missing). */
    Path modelPath() {
        if (model == null && hfRepo == null) {
            throw new UserInputException("no model given: use -m FILE for a local file, or -hf REPO[:FILE] for a model"
                    + " from the Hugging Face Hub");
        }
        if (model != null && hfRepo != null) {
            throw new UserInputException("give either -m FILE or -hf REPO[:FILE], not both");
        }
        if (model != null) {
            return model;
        }
        PrintStream err = mixee != null && mixee.userObject() instanceof IoCommand io ? io.err : System.err;
        return hub.pull(hfRepo, err).path();
    }

    /** The context size asked for (0 or absent: the model's default); warns when it exceeds the trained context. */
    int contextSize(Model m, java.io.PrintStream err) {
        if (contextSize == null || contextSize == 0) {
            return m.defaultContextSize();
        }
        if (contextSize < 0) {
            throw new UserInputException("--ctx-size must be positive, got " + contextSize);
        }
        if (contextSize > m.config().contextLength()) {
            err.printf("jllm: warning: --ctx-size %d exceeds the %d tokens the model was trained on%n", contextSize,
                    m.config().contextLength());
        }
        return contextSize;
    }

    KvCache.Type cacheType() {
        return switch (cacheType.toLowerCase(java.util.Locale.ROOT)) {
            case "f16" -> KvCache.Type.F16;
            case "f32" -> KvCache.Type.F32;
            default -> throw new UserInputException("--cache-type must be f16 or f32, got '" + cacheType + "'");
        };
    }
}
