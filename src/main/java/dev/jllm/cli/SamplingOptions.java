package dev.jllm.cli;

import dev.jllm.sampling.LogitBias;
import dev.jllm.sampling.SamplerOptions;
import dev.jllm.sampling.SamplerOrder;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Sampling options shared by the commands that generate text (generate, chat), with llama.cpp's names and meanings
 * for its special values: {@code --temp} 0 or less is greedy, {@code --top-k} 0 or less is off, {@code --repeat-last-n
 * -1} is the whole context, {@code --seed -1} (or none) a fresh random seed. Options left out take llama.cpp's
 * defaults, or with {@code --samplers llama2c} run.c's ({@code -t 1.0 -p 0.9}).
 */
final class SamplingOptions {

    /** llama.cpp's LLAMA_DEFAULT_SEED, which asks for a random seed. */
    static final long RANDOM_SEED = -1;

    @Option(names = "--temp", paramLabel = "T",
            description = "Temperature; 0 or less picks the most likely token (greedy, as llama.cpp). Default 0.8"
                    + " (1.0 with --samplers llama2c).")
    Float temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Top-k (0 or less = off, as llama.cpp). Default 40.")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P",
            description = "Top-p (1 = off). Default 0.95 (0.9 with --samplers llama2c, where 0 is off too).")
    Float topP;

    @Option(names = "--min-p", paramLabel = "P", description = "Min-p (0 = off). Default 0.05.")
    Float minP;

    @Option(names = "--repeat-penalty", paramLabel = "X", description = "Repetition penalty (1 = off). Default 1.0.")
    Float repeatPenalty;

    @Option(names = "--repeat-last-n", paramLabel = "N",
            description = "Tokens the penalties look back over (0 = off, -1 = the whole context, as llama.cpp)."
                    + " Default 64.")
    Integer repeatLastN;

    @Option(names = "--presence-penalty", paramLabel = "X",
            description = "Subtracted once from the logit of each token among the last --repeat-last-n (0 = off)."
                    + " Default 0.")
    Float presencePenalty;

    @Option(names = "--frequency-penalty", paramLabel = "X",
            description = "Subtracted from a token's logit once per time it appears among the last --repeat-last-n"
                    + " (0 = off). Default 0.")
    Float frequencyPenalty;

    @Option(names = {"-l", "--logit-bias"}, paramLabel = "ID(+/-)BIAS",
            description = "Add BIAS to the logit of token ID before sampling, as llama.cpp: 15043+1, 15043-0.5,"
                    + " 2-inf (never token 2). Repeatable.")
    List<String> logitBias = new ArrayList<>();

    @Option(names = "--samplers", paramLabel = "LIST",
            description = "The samplers and their order, as llama.cpp names them, separated by ';' (default"
                    + " penalties;top_k;top_p;min_p;temperature); or llama2c: llama2.c run.c's sampler exactly"
                    + " (temperature, then its top-p or a multinomial draw, its random numbers).")
    String samplers;

    @Option(names = {"--sampler-seq", "--sampling-seq"}, paramLabel = "LETTERS",
            description = "The same as letters, as llama.cpp: e penalties, k top_k, p top_p, m min_p, t temperature"
                    + " (default ekpmt).")
    String samplerLetters;

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

    /** The order of the samplers, from --samplers or --sampler-seq (llama.cpp's default without either). */
    SamplerOrder order() {
        if (samplers != null && samplerLetters != null) {
            throw new UserInputException("give the samplers as --samplers or --sampler-seq, not both");
        }
        try {
            if (samplers != null) {
                return SamplerOrder.parse(samplers);
            }
            return samplerLetters != null ? SamplerOrder.parseLetters(samplerLetters) : SamplerOrder.DEFAULT;
        } catch (IllegalArgumentException e) {
            throw new UserInputException(e.getMessage());
        }
    }

    /** The sampler's settings for a model of {@code vocabSize} tokens (logit biases must name its tokens). */
    SamplerOptions toSamplerOptions(int vocabSize) {
        SamplerOrder order = order();
        boolean llama2c = order instanceof SamplerOrder.Llama2c;
        if (llama2c) {
            refuseWithLlama2c("--top-k", topK);
            refuseWithLlama2c("--min-p", minP);
            refuseWithLlama2c("--repeat-penalty", repeatPenalty);
            refuseWithLlama2c("--repeat-last-n", repeatLastN);
            refuseWithLlama2c("--presence-penalty", presencePenalty);
            refuseWithLlama2c("--frequency-penalty", frequencyPenalty);
        }
        int lastN = repeatLastN != null ? repeatLastN : 64;
        if (lastN < -1) {
            throw new UserInputException("--repeat-last-n must be -1 (the whole context), 0 (off) or positive, got "
                    + lastN);
        }
        float temp = temperature != null ? temperature : llama2c ? 1.0f : 0.8f;
        if (Float.isNaN(temp)) {
            throw new UserInputException("--temp must be a number, got NaN");
        }
        List<LogitBias> biases = new ArrayList<>();
        for (String value : logitBias) {
            LogitBias bias;
            try {
                bias = LogitBias.parse(value);
            } catch (IllegalArgumentException e) {
                throw new UserInputException(e.getMessage());
            }
            if (bias.token() >= vocabSize) {
                throw new UserInputException("--logit-bias '" + value + "': token " + bias.token()
                        + " is outside the model's vocabulary (0.." + (vocabSize - 1) + ")");
            }
            biases.add(bias);
        }
        return new SamplerOptions(temp, Math.max(0, topK != null ? topK : 40),
                topP != null ? topP : llama2c ? 0.9f : 0.95f, minP != null ? minP : 0.05f,
                repeatPenalty != null ? repeatPenalty : 1f,
                // -1, the whole context: every token so far, which is what a window longer than any context holds
                lastN == -1 ? Integer.MAX_VALUE : lastN, seed(),
                presencePenalty != null ? presencePenalty : 0f, frequencyPenalty != null ? frequencyPenalty : 0f,
                biases, order);
    }

    /** The chain as llama.cpp's --verbose shows it: {@code logit-bias -> penalties -> ... -> dist}, or llama2c's. */
    static String describe(SamplerOptions options) {
        String bias = options.logitBias().isEmpty() ? "" : "logit-bias -> ";
        if (options.order() instanceof SamplerOrder.Chain chain) {
            StringBuilder s = new StringBuilder(bias);
            for (SamplerOrder.Stage stage : chain.stages()) {
                s.append(stage.llamaCppName).append(" -> ");
            }
            return s.append("dist").toString();
        }
        return bias + "llama2c (run.c: temperature -> softmax -> " + (options.topP() > 0f && options.topP() < 1f
                ? "top-p" : "multinomial") + ")";
    }

    private static void refuseWithLlama2c(String option, Object value) {
        if (value != null) {
            throw new UserInputException(option + " does not apply to --samplers llama2c: llama2.c's sampler has a"
                    + " temperature and top-p only (use --samplers with llama.cpp's names for " + option + ")");
        }
    }
}
