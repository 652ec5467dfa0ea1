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
                    + " (config.json + safetensors). Without -m and -hf: the bundled TinyStories-260K demo model.")
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

    @Option(names = {"-t", "--threads"}, paramLabel = "N", split = ",",
            description = "Threads (default: all ${sys:jllm.cores} cores); bench takes a list (1,2,4).")
    int[] threads;

    @Option(names = {"-ngl", "--n-gpu-layers", "--gpu-layers"}, paramLabel = "N",
            description = "llama.cpp's GPU offload: accepted and ignored, jllm runs on the CPU.")
    String gpuLayers;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N",
            description = "Context size in tokens (default: the model's, at most 4096).")
    Integer contextSize;

    @Option(names = "--cache-type", paramLabel = "TYPE", defaultValue = "f16",
            description = "KV cache storage: f16 (llama.cpp's default) or f32 (llama2.c's). Default ${DEFAULT-VALUE}.")
    String cacheType;

    @Option(names = "--no-repack",
            description = "Keep Q4_0, Q8_0, Q4_K, Q5_K and Q6_K weights as they are in the file instead of repacking"
                    + " them at load into a faster row-interleaved copy (which takes about the file's size in memory"
                    + " again; Q6_K a third more).")
    boolean noRepack;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    static {
        System.setProperty("jllm.cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
    }

    /**
     * The model of -m or -hf, or else the bundled demo model (saying so on stderr); applies --threads first. Every
     * command that runs a model loads it here, so each gets the bundled default.
     */
    Model load() {
        Integer n = threads();
        if (n != null) {
            useThreads(n, err());
        }
        return open();
    }

    /** As {@link #load} but leaving the thread count alone (bench sets each of its list itself). */
    Model open() {
        if (gpuLayers != null) {
            err().println("jllm: note: -ngl " + dev.jllm.io.Printable.escape(gpuLayers) + " is ignored: jllm runs on the CPU");
        }
        Model model = usesBundledModel() ? Model.of(BundledModel.open(err()), tokenizer, !noRepack)
                : Model.load(modelPath(), tokenizer, !noRepack);
        reportRepacking(model, err());
        return model;
    }

    /** Says why nothing was repacked when repacking was skipped, and with JLLM_TIMING set what it cost. */
    static void reportRepacking(Model model, PrintStream err) {
        var summary = model.repackSummary();
        if (summary.skipped() != null) {
            err.println("jllm: note: weights not repacked: " + summary.skipped() + " (products run slower)");
        }
        if (Timeline.ENABLED && summary.tensors() > 0) {
            double gb = summary.bytes() / 1e9;
            double seconds = summary.nanos() / 1e9;
            err.printf(java.util.Locale.ROOT, "timing: repacked %d matrices, %.1f MB in %.0f ms (%.2f s per GB)%n",
                    summary.tensors(), summary.bytes() / 1e6, seconds * 1e3, seconds / gb);
        }
    }

    /** Whether neither -m nor -hf was given: the commands then run the bundled demo model. */
    boolean usesBundledModel() {
        return model == null && hfRepo == null;
    }

    /** The one thread count of --threads (null when absent); a list is for bench only. */
    Integer threads() {
        if (threads == null) {
            return null;
        }
        if (threads.length != 1) {
            throw new UserInputException("--threads takes one number here (a list such as 1,2 is for bench)");
        }
        return threads[0];
    }

    /** Runs the model's products on {@code n} threads; warns when that is more than the cores this process has. */
    static void useThreads(int n, PrintStream err) {
        if (n < 1) {
            throw new UserInputException("--threads must be at least 1, got " + n);
        }
        int cores = Parallel.availableCores();
        if (n > cores) {
            err.println("jllm: warning: --threads " + n + " is more than the " + cores
                    + " cores available to this process; extra threads only wait for a core");
        }
        Parallel.configure(n);
    }

    private PrintStream err() {
        return mixee != null && mixee.userObject() instanceof IoCommand io ? io.err : System.err;
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
        return hub.pull(hfRepo, err()).path();
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
