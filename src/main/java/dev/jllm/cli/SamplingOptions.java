package dev.jllm.cli;

import dev.jllm.sampling.SamplerOptions;
import java.security.SecureRandom;
import picocli.CommandLine.Option;

/**
 * Sampling options shared by the commands that generate text (generate, chat), with llama.cpp's meanings for its
 * special values: {@code --temp} 0 or less is greedy, {@code --top-k} 0 or less is off, {@code --repeat-last-n -1} is
 * the whole context, {@code --seed -1} (or none) a fresh random seed.
 */
final class SamplingOptions {

    /** llama.cpp's LLAMA_DEFAULT_SEED, which asks for a random seed. */
    static final long RANDOM_SEED = -1;

    @Option(names = "--temp", paramLabel = "T", defaultValue = "0.8",
            description = "Temperature; 0 or less picks the most likely token (greedy, as llama.cpp). Default ${DEFAULT-VALUE}.")
    float temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "40",
            description = "Top-k (0 or less = off, as llama.cpp). Default ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.95", description = "Top-p (1 = off). Default ${DEFAULT-VALUE}.")
    float topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0.05", description = "Min-p (0 = off). Default ${DEFAULT-VALUE}.")
    float minP;

    @Option(names = "--repeat-penalty", paramLabel = "X", defaultValue = "1.0",
            description = "Repetition penalty (1 = off). Default ${DEFAULT-VALUE}.")
    float repeatPenalty;

    @Option(names = "--repeat-last-n", paramLabel = "N", defaultValue = "64",
            description = "Tokens the repetition penalty looks back over (0 = off, -1 = the whole context, as llama.cpp)."
                    + " Default ${DEFAULT-VALUE}.")
    int repeatLastN;

    @Option(names = {"-s", "--seed"}, paramLabel = "S",
            description = "Random seed; -1 or none: a fresh random seed each run, printed with --verbose and in"
                    + " --format json (as llama.cpp).")
    Long seed;

    private Long resolvedSeed;

    /** The seed this run uses: the one given, or a fresh random one for -1 and none (the same one on every call). */
    long seed() {
        if (resolvedSeed == null) {
            resolvedSeed = seed != null && seed != RANDOM_SEED ? seed : new SecureRandom().nextLong() & 0xFFFFFFFFL;
        }
        return resolvedSeed;
    }

    /** The sampler's settings. */
    SamplerOptions toSamplerOptions() {
        if (repeatLastN < -1) {
            throw new UserInputException("--repeat-last-n must be -1 (the whole context), 0 (off) or positive, got "
                    + repeatLastN);
        }
        if (Float.isNaN(temperature)) {
            throw new UserInputException("--temp must be a number, got NaN");
        }
        return new SamplerOptions(temperature, Math.max(0, topK), topP, minP, repeatPenalty,
                // -1, the whole context: every token so far, which is what a window longer than any context holds
                repeatLastN == -1 ? Integer.MAX_VALUE : repeatLastN, seed());
    }
}
