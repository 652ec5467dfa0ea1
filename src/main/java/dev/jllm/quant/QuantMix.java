package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.util.List;
import java.util.Locale;

/**
 * What a writer ({@code synth}, {@code convert}) stores each tensor as: one type for every matrix, or llama-quantize's
 * Q4_K_M mixture. Either way a matrix whose rows are not whole blocks of the chosen type falls back to another type:
 * F32 for the first-generation types (as jllm always did), and llama-quantize's fallbacks for the K-quants (Q4_K to
 * Q5_0, Q6_K to Q8_0, then F16 when rows are not whole blocks of 32 either).
 */
public sealed interface QuantMix {

    /** The names {@link #parse} knows, for messages and help. */
    List<String> NAMES = List.of("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k", "q4_k_m");

    /** {@link #NAMES} for a message: "f32, f16, ..., q6_k or q4_k_m". */
    static String namesInWords() {
        return String.join(", ", NAMES.subList(0, NAMES.size() - 1)) + " or " + NAMES.getLast();
    }

    /** The mix a {@code --type} name stands for, or null if the name is unknown (case is ignored). */
    static QuantMix parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "f32" -> new Uniform(GgmlType.F32);
            case "f16" -> new Uniform(GgmlType.F16);
            case "bf16" -> new Uniform(GgmlType.BF16);
            case "q8_0" -> new Uniform(GgmlType.Q8_0);
            case "q4_0" -> new Uniform(GgmlType.Q4_0);
            case "q4_k" -> new Uniform(GgmlType.Q4_K);
            case "q6_k" -> new Uniform(GgmlType.Q6_K);
            case "q4_k_m" -> new Q4_K_M();
            default -> null;
        };
    }

    /** The name {@link #parse} takes for this mix. */
    String name();

    /**
     * The type the mix wants for tensor {@code name} (GGUF naming) of {@code shape} (ggml order) in a model of
     * {@code layers} layers, which has an output matrix of its own unless its output is tied to the token embeddings;
     * {@link #typeFor} is the type it gets.
     */
    GgmlType wanted(String name, long[] shape, int layers, boolean hasOutput);

    /**
     * The type tensor {@code name} is written in: the {@link #wanted} one when its rows are whole blocks of it, else
     * F32 for the first-generation block types and llama-quantize's fallback for the K-quants.
     */
    default GgmlType typeFor(String name, long[] shape, int layers, boolean hasOutput) {
        GgmlType wanted = wanted(name, shape, layers, hasOutput);
        if (shape.length < 2) {
            return wanted;
        }
        return wanted.blockSize() == 256 ? fitted(wanted, shape[0])
                : shape[0] % wanted.blockSize() == 0 ? wanted : GgmlType.F32;
    }

    /** llama.cpp's {@code general.file_type} (enum llama_ftype) for a file of this mix. */
    int fileType();

    /** True when some tensors are block-quantized (the file then carries {@code general.quantization_version}). */
    boolean quantized();

    /** Every matrix in one type. */
    record Uniform(GgmlType type) implements QuantMix {

        public Uniform {
            if (!Quantizer.SUPPORTED.contains(type)) {
                throw new IllegalArgumentException("no quantizer for " + type);
            }
        }

        @Override
        public String name() {
            return type.name().toLowerCase(Locale.ROOT);
        }

        /** Norms and other 1-D tensors stay F32 for the block types; the float types apply to them too. */
        @Override
        public GgmlType wanted(String name, long[] shape, int layers, boolean hasOutput) {
            return shape.length < 2 && type.blockSize() > 1 ? GgmlType.F32 : type;
        }

        @Override
        public int fileType() {
            return switch (type) {
                case F32 -> 0;
                case F16 -> 1;
                case Q4_0 -> 2;
                case Q8_0 -> 7;
                case Q5_0 -> 8;
                case Q4_K -> 15; // llama-quantize's "q4_k" is MOSTLY_Q4_K_M, also with --pure
                case Q6_K -> 18;
                case BF16 -> 32;
                default -> throw new IllegalStateException("no file type for " + type);
            };
        }

        @Override
        public boolean quantized() {
            return type.blockSize() > 1;
        }
    }

    /**
     * llama-quantize's Q4_K_M (llama_tensor_get_type without an importance matrix, architecture llama): Q4_K for the
     * matrices; Q6_K for the output matrix (the token embeddings when the output is tied to them), and for attn_v and
     * ffn_down in the layers {@link #moreBits} picks.
     */
    record Q4_K_M() implements QuantMix {

        @Override
        public String name() {
            return "q4_k_m";
        }

        @Override
        public GgmlType wanted(String name, long[] shape, int layers, boolean hasOutput) {
            if (shape.length < 2) {
                return GgmlType.F32;
            }
            // (llama.cpp takes Q8_0 directly for an output whose rows are not whole 256-value blocks: the same as
            // Q6_K's fallback)
            boolean output = name.equals("output.weight") || !hasOutput && name.equals("token_embd.weight");
            int layer = layerOf(name);
            boolean more = layer >= 0 && (name.endsWith(".attn_v.weight") || name.endsWith(".ffn_down.weight"))
                    && moreBits(layer, layers);
            return output || more ? GgmlType.Q6_K : GgmlType.Q4_K;
        }

        @Override
        public int fileType() {
            return 15;
        }

        @Override
        public boolean quantized() {
            return true;
        }

        /**
         * llama.cpp's {@code use_more_bits}: the first and last eighth of the layers, and every third layer in
         * between.
         */
        static boolean moreBits(int layer, int layers) {
            return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
        }

        /** N of a tensor named {@code blk.N....}, or -1. */
        static int layerOf(String name) {
            if (!name.startsWith("blk.")) {
                return -1;
            }
            int dot = name.indexOf('.', 4);
            try {
                return dot < 0 ? -1 : Integer.parseInt(name.substring(4, dot));
            } catch (NumberFormatException e) {
                return -1;
            }
        }
    }

    /**
     * A K-quant for rows of {@code rowLength} values, or llama-quantize's fallback when they are not whole 256-value
     * blocks: Q4_K to Q5_0, Q6_K to Q8_0, and F16 when they are not whole 32-value blocks either.
     */
    private static GgmlType fitted(GgmlType kQuant, long rowLength) {
        if (rowLength % 256 == 0) {
            return kQuant;
        }
        if (rowLength % 32 != 0) {
            return GgmlType.F16;
        }
        return kQuant == GgmlType.Q4_K ? GgmlType.Q5_0 : GgmlType.Q8_0;
    }
}
