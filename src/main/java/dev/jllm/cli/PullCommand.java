package dev.jllm.cli;

import dev.jllm.hub.PulledModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "pull", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Download a model from the Hugging Face Hub into the cache and print the path to load.",
            "REPO:FILE.gguf takes that file; REPO:QUANT (e.g. REPO:Q4_K_M) the GGUF file whose name contains it;"
                    + " REPO alone its only GGUF file, or its Hugging Face model directory (config.json, tokenizer"
                    + " files, safetensors weights). Interrupted downloads resume; files are verified (size, SHA-256)"
                    + " before they enter the cache. A model already cached is not fetched again."})
final class PullCommand extends IoCommand implements Runnable {

    @Parameters(index = "0", paramLabel = "REPO[:FILE]", description = "e.g. TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M")
    String ref;

    @Mixin
    HubOptions hub;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        PulledModel model = hub.pull(ref, err);
        out.println(model.path());
    }
}
