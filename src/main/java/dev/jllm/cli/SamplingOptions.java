package dev.jllm.cli;

import dev.jllm.sampling.SamplerOptions;
import picocli.CommandLine.Option;

/** Sampling options shared by the commands that generate text (generate, chat). */
final class SamplingOptions {

    @Option(names = "--temp", paramLabel = "T", defaultValue = "0.8",
            description = "Temperature; 0 picks the most likely token (greedy). Default ${DEFAULT-VALUE}.")
    float temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "40", description = "Top-k (0 = off). Default ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.95", description = "Top-p (1 = off). Default ${DEFAULT-VALUE}.")
    float topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0.05", description = "Min-p (0 = off). Default ${DEFAULT-VALUE}.")
    float minP;

    @Option(names = "--repeat-penalty", paramLabel = "X", defaultValue = "1.0",
            description = "Repetition penalty (1 = off). Default ${DEFAULT-VALUE}.")
    float repeatPenalty;

    @Option(names = "--repeat-last-n", paramLabel = "N", defaultValue = "64",
            description = "Tokens the repetition penalty looks back over. Default ${DEFAULT-VALUE}.")
    int repeatLastN;

    @Option(names = {"-s", "--seed"}, paramLabel = "S", description = "Random seed (default: from the clock).")
    Long seed;

    SamplerOptions toSamplerOptions() {
        return new SamplerOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN,
                seed != null ? seed : System.nanoTime());
    }
}
