package dev.jllm.hub;

import dev.jllm.tensor.GgmlType;
import java.util.Locale;
import java.util.Map;

/**
 * What a GGUF file's name says about its tensor types, so that {@code pull} refuses a file jllm cannot run before
 * downloading it: a name part (between dots, dashes and the like) that names a GGUF tensor type jllm has no kernel
 * for (IQ2_XXS, IQ3_S, TQ1_0, ...), or one of llama.cpp's file types made of such tensors (IQ2_M, IQ3_M, ...).
 * A name without such a part passes; loading the file then names any type jllm cannot run.
 */
final class QuantLabels {

    private QuantLabels() {
    }

    /** llama.cpp file types (and removed GGUF types) whose names are not a tensor type, with the type they stand for. */
    private static final Map<String, String> FILE_TYPES = Map.of("IQ2_M", "IQ2_S", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_S",
            "IQ1_M", "IQ1_M", "Q4_0_4_4", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_4_8", "Q4_0_8_8", "Q4_0_8_8", "MXFP4", "MXFP4");

    /** Throws a one-line {@link HubException} when {@code file}'s name names tensors jllm cannot run. */
    static void checkRunnable(String repo, String file) {
        String base = Selection.baseName(file);
        for (String part : base.split("[^A-Za-z0-9_]+")) {
            String label = part.toUpperCase(Locale.ROOT);
            String type = FILE_TYPES.get(label);
            if (type == null) {
                GgmlType ggml = byName(label);
                type = ggml != null && ggml.kernel() == null ? ggml.name() : null;
            }
            if (type != null) {
                throw new HubException(repo + ":" + file + " is " + label + ", made of " + type + " tensors, which jllm"
                        + " has no kernel for (it runs " + String.join(", ", GgmlType.runnable().stream()
                        .map(Enum::name).toList()) + "); pick another quantization, e.g. Q4_K_M");
            }
        }
    }

    private static GgmlType byName(String label) {
        for (GgmlType t : GgmlType.values()) {
            if (t.name().equals(label)) {
                return t;
            }
        }
        return null;
    }
}
