package dev.jllm.cli;

import dev.jllm.engine.Model;
import dev.jllm.tensor.Parallel;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options every command that runs a model shares. */
final class ModelOptions {

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "FILE",
            description = "Model file: GGUF, llama2.c checkpoint (.bin) or flat FP16 binary.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "Tokenizer file for formats that keep it apart (llama2.c tokenizer.bin). Default: the model's own,"
                    + " or tokenizer.bin beside a llama2.c checkpoint.")
    Path tokenizer;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all ${sys:jllm.cores} cores).")
    Integer threads;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N",
            description = "Context size in tokens (default: the model's, at most 4096).")
    Integer contextSize;

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
            Parallel.configure(threads);
        }
        return Model.load(model, tokenizer);
    }

    int contextSize(Model m) {
        if (contextSize == null || contextSize == 0) {
            return m.defaultContextSize();
        }
        if (contextSize < 0 || contextSize > m.config().contextLength()) {
            throw new UserInputException("--ctx-size " + contextSize + " is outside 1.." + m.config().contextLength()
                    + " (the model's context length)");
        }
        return contextSize;
    }
}
