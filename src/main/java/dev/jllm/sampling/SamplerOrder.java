package dev.jllm.sampling;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Which samplers run, in which order: llama.cpp's chain (its {@code --samplers} list) or llama2.c's {@code run.c}
 * sampler. The logit bias always comes first and the draw last, as in llama.cpp.
 */
public sealed interface SamplerOrder {

    /** llama.cpp's default order, without the samplers jllm does not have (which its defaults turn off). */
    Chain DEFAULT = new Chain(List.of(Stage.PENALTIES, Stage.TOP_K, Stage.TOP_P, Stage.MIN_P, Stage.TEMPERATURE));

    /**
     * The samplers of a chain, with llama.cpp's names ({@code --samplers}) and letters ({@code --sampler-seq}).
     * Each keeps at least the most likely candidate.
     */
    enum Stage {
        /** Repetition, frequency and presence penalties over the last {@code repeatLastN} tokens. */
        PENALTIES("penalties", 'e'),
        /** The k most likely candidates. */
        TOP_K("top_k", 'k'),
        /** The most likely candidates whose probabilities (at this point of the chain) reach p. */
        TOP_P("top_p", 'p'),
        /** The candidates at least min-p times as likely as the most likely one. */
        MIN_P("min_p", 'm'),
        /** Divides the logits by the temperature; 0 or less keeps only the most likely candidate (greedy). */
        TEMPERATURE("temperature", 't');

        public final String llamaCppName;
        public final char letter;

        Stage(String llamaCppName, char letter) {
            this.llamaCppName = llamaCppName;
            this.letter = letter;
        }
    }

    /** llama.cpp's samplers in this order, then a draw from what is left (at the temperature reached, 1 if none). */
    record Chain(List<Stage> stages) implements SamplerOrder {
        public Chain {
            stages = List.copyOf(stages);
        }

        @Override
        public String toString() {
            return stages.stream().map(s -> s.llamaCppName).collect(Collectors.joining(";"));
        }
    }

    /**
     * llama2.c {@code run.c}'s sampler: the logits divided by the temperature, a float32 softmax, one xorshift
     * {@code random_f32} draw per token, then its top-p (candidates above {@code (1 - p) / (n - 1)}, sorted, cut where
     * the cumulative probability exceeds p) or, with p at 0 or 1, a walk over the whole distribution in vocabulary
     * order. Temperature 0 is the argmax. It has no top-k, min-p, penalties or logit bias.
     */
    record Llama2c() implements SamplerOrder {
        @Override
        public String toString() {
            return PRESET_LLAMA2C;
        }
    }

    String PRESET_LLAMA2C = "llama2c";

    /**
     * Names llama.cpp accepts in {@code --samplers} for samplers jllm does not have. Its defaults turn each of them off
     * (dry multiplier 0, top-n-sigma -1, typical-p 1, xtc probability 0) and jllm has none of their settings, so a list
     * copied from llama.cpp may hold them: they are skipped.
     */
    List<String> SKIPPED = List.of("dry", "top_n_sigma", "top-n-sigma", "typ_p", "typ-p", "typ", "typical-p", "typical",
            "xtc");

    /**
     * Parses llama.cpp's {@code --samplers} value: names separated by {@code ;} (or {@code ,}), canonical
     * ({@code penalties;top_k;top_p;min_p;temperature}) or its alternatives ({@code top-k}, {@code top-p},
     * {@code nucleus}, {@code min-p}, {@code temp}); or the preset {@code llama2c}.
     *
     * @throws IllegalArgumentException for an unknown or empty name, naming it and the known ones
     */
    static SamplerOrder parse(String list) {
        String trimmed = list.strip();
        if (trimmed.equalsIgnoreCase(PRESET_LLAMA2C)) {
            return new Llama2c();
        }
        List<Stage> stages = new ArrayList<>();
        for (String raw : trimmed.split("[;,]", -1)) {
            String name = raw.strip().toLowerCase(Locale.ROOT);
            Stage stage = switch (name) {
                case "penalties" -> Stage.PENALTIES;
                case "top_k", "top-k" -> Stage.TOP_K;
                case "top_p", "top-p", "nucleus" -> Stage.TOP_P;
                case "min_p", "min-p" -> Stage.MIN_P;
                case "temperature", "temp" -> Stage.TEMPERATURE;
                default -> null;
            };
            if (stage != null) {
                stages.add(stage);
            } else if (!SKIPPED.contains(name)) {
                throw new IllegalArgumentException("--samplers: " + (name.isEmpty() ? "an empty name" : "unknown sampler '"
                        + raw.strip() + "'") + " in '" + list + "'; expected names from penalties, top_k, top_p, min_p,"
                        + " temperature separated by ';' (llama.cpp's dry, top_n_sigma, typ_p and xtc are accepted and"
                        + " skipped), or the preset llama2c");
            }
        }
        return new Chain(stages);
    }

    /**
     * Parses llama.cpp's {@code --sampler-seq}: one letter per sampler ({@code e} penalties, {@code k} top-k, {@code p}
     * top-p, {@code m} min-p, {@code t} temperature; {@code d}, {@code s}, {@code y}, {@code x} are skipped as in
     * {@link #SKIPPED}).
     */
    static SamplerOrder parseLetters(String letters) {
        List<Stage> stages = new ArrayList<>();
        for (char c : letters.strip().toCharArray()) {
            Stage stage = null;
            for (Stage s : Stage.values()) {
                if (s.letter == c) {
                    stage = s;
                }
            }
            if (stage != null) {
                stages.add(stage);
            } else if ("dsyx".indexOf(c) < 0) {
                throw new IllegalArgumentException("--sampler-seq: unknown sampler letter '" + c + "' in '" + letters
                        + "'; expected letters from e (penalties), k (top_k), p (top_p), m (min_p), t (temperature)");
            }
        }
        return new Chain(stages);
    }
}
