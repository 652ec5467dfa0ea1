package dev.jllm.convert;

import dev.jllm.tensor.GgmlType;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A matrix written in another type than the one asked for, because its rows do not split into the asked type's
 * blocks (as llama.cpp's quantizer keeps such matrices in a type that fits): said aloud, never silent.
 *
 * @param tensor    the tensor's name
 * @param rowLength values per row
 * @param wanted    the type asked for
 * @param used      the type it is written in
 */
public record TypeFallback(String tensor, long rowLength, GgmlType wanted, GgmlType used) {

    private static final int NAMES_SHOWN = 6;

    /** One warning line for all of them (they share the asked type), or null when there are none. */
    public static String warning(List<TypeFallback> fallbacks, int matrices) {
        return fallbacks.isEmpty() ? null : warning(fallbacks.getFirst().wanted().name(), fallbacks, matrices);
    }

    /**
     * One warning line for all of them, asked for as {@code --type asked} (a type, or a mixture such as q4_k_m whose
     * matrices want different types of the same block size), or null when there are none.
     */
    public static String warning(String asked, List<TypeFallback> fallbacks, int matrices) {
        if (fallbacks.isEmpty()) {
            return null;
        }
        GgmlType wanted = fallbacks.getFirst().wanted();
        String wantedNames = fallbacks.stream().map(f -> f.wanted().name()).distinct().collect(Collectors.joining("/"));
        String used = fallbacks.stream().map(f -> f.used().name()).distinct().collect(Collectors.joining("/"));
        String names = fallbacks.stream().limit(NAMES_SHOWN).map(f -> f.tensor() + " (rows of " + f.rowLength() + ")")
                .collect(Collectors.joining(", "));
        int more = fallbacks.size() - Math.min(NAMES_SHOWN, fallbacks.size());
        return String.format(Locale.ROOT, "--type %s does not fit %d of %d matrices, written as %s instead: their rows"
                + " are not a multiple of the %d-value %s block: %s%s", asked.toLowerCase(Locale.ROOT),
                fallbacks.size(), matrices, used, wanted.blockSize(), wantedNames, names,
                more > 0 ? " and " + more + " more" : "");
    }
}
