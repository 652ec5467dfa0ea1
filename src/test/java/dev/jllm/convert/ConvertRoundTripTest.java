package dev.jllm.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import dev.jllm.format.ModelFile;
import dev.jllm.quant.QuantMix;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every model in ../shared/models converted to every output format and loaded back: the same greedy tokens, and
 * logits equal within 1e-5 relative where the conversion is lossless (same types, or F32 from F32), within the
 * target type's rounding otherwise. Conversions a format cannot express fail with one line and leave nothing behind.
 */
class ConvertRoundTripTest {

    static final String[] MODELS = {"stories260K.bin", "stories260K-f32.gguf", "stories260K-q8_0-mixed.gguf",
        "stories260K-q4_0-mixed.gguf", "synth256/synth256-f16.gguf", "synth256/synth256-q4_1.gguf",
        "synth256/synth256-q4_k_m-mixed.gguf", "synth256/synth256-q3_k_m.gguf", "llama3-tiny-q8_0.gguf"};

    static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421};
    static final int GENERATED = 8;

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (String m : MODELS) {
            for (ModelConverter.Target t : ModelConverter.Target.values()) {
                all.add(Arguments.of(m, t, null));
            }
            all.add(Arguments.of(m, ModelConverter.Target.GGUF, GgmlType.F32));
            all.add(Arguments.of(m, ModelConverter.Target.GGUF, GgmlType.Q8_0));
            all.add(Arguments.of(m, ModelConverter.Target.HF, GgmlType.BF16));
        }
        return all.stream();
    }

    static Path source(String name) {
        return SharedData.model(name);
    }

    static Path tokenizerFor(String name) {
        return name.endsWith(".bin") ? SharedData.model("tok512.bin") : null;
    }

    /** Greedy continuation of the prompt, and all logits rows along the way. */
    record Run(int[] tokens, float[] logits) {
    }

    /**
     * Greedy decoding after the prompt; with {@code forced} non-null the model is fed those tokens instead of its own
     * choices (teacher forcing), so two models' logits are compared on the same sequence.
     */
    static Run run(Model model, int[] forced) {
        Session s = model.newSession(new SessionOptions(64, SessionOptions.Prefill.BATCH, true));
        int vocab = model.config().vocabSize();
        float[] logits = s.appendAll(PROMPT);
        float[] last = java.util.Arrays.copyOfRange(logits, logits.length - vocab, logits.length);
        int[] tokens = new int[GENERATED];
        float[] all = new float[GENERATED * vocab];
        for (int i = 0; i < GENERATED; i++) {
            System.arraycopy(last, 0, all, i * vocab, vocab);
            tokens[i] = argmax(last);
            last = s.append(forced != null ? forced[i] : tokens[i]);
        }
        return new Run(tokens, all);
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static QuantMix mix(GgmlType type) {
        return type == null ? null : new QuantMix.Uniform(type);
    }

    /** max |a - b| over max |a|. */
    static double relativeError(float[] a, float[] b) {
        double maxDiff = 0;
        double maxAbs = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxAbs = Math.max(maxAbs, Math.abs(a[i]));
        }
        return maxDiff / maxAbs;
    }

    @ParameterizedTest(name = "{0} -> {1} {2}")
    @MethodSource("cases")
    void roundTrip(String name, ModelConverter.Target target, GgmlType type, @TempDir Path dir) throws IOException {
        Path out = dir.resolve(target == ModelConverter.Target.HF ? "hf" : "out.bin");
        boolean lossless;
        try (ModelFile file = ModelLoaders.open(source(name))) {
            String reason = cannotExpress(file, target);
            if (reason != null) {
                ModelFormatException e = assertThrows(ModelFormatException.class,
                        () -> ModelConverter.convertWithMix(file, out, target, mix(type), null));
                assertTrue(e.getMessage().contains(reason), e.getMessage());
                assertFalse(e.getMessage().contains("\n"));
                try (Stream<Path> left = Files.list(dir)) {
                    assertEquals(List.of(), left.toList(), "nothing left behind");
                }
                return;
            }
            lossless = lossless(file, target, type);
            ModelConverter.convertWithMix(file, out, target, mix(type), null);
        }
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(out), left.toList(), "only the output, no temporary files");
        }
        Run expected;
        try (Model original = Model.load(source(name), tokenizerFor(name))) {
            expected = run(original, null);
        }
        Run actual;
        Path tokenizer = target == ModelConverter.Target.LLAMA2C ? null : tokenizerFor(name);
        try (Model converted = Model.load(out, tokenizer); Model original = Model.load(source(name), tokenizerFor(name))) {
            actual = run(converted, expected.tokens);
            if (target == ModelConverter.Target.GGUF || target == ModelConverter.Target.HF) {
                // the tokenizer travels with the model and encodes as the original's
                String text = "Once upon a time, Lily's cat  ran 123 miles!\nThe end.";
                assertArrayEquals(original.tokenizer().encode(text, true, false),
                        converted.tokenizer().encode(text, true, false), "tokens of " + text);
                assertEquals(original.tokenizer().bosId(), converted.tokenizer().bosId());
                assertEquals(original.tokenizer().eosId(), converted.tokenizer().eosId());
            }
        }
        double err = relativeError(expected.logits, actual.logits);
        double bound = lossless ? 1e-5 : tolerance(name, target, type);
        assertTrue(err <= bound, name + " -> " + target + " " + type + ": relative logit error " + err + " > " + bound);
        if (lossless) {
            assertArrayEquals(expected.tokens, actual.tokens, "greedy tokens");
            return;
        }
        // Lossy: the same argmax at every step, except at a near tie the logit error can flip (the original's top
        // two logits closer than the largest logit difference measured).
        int vocab = expected.logits.length / GENERATED;
        for (int i = 0; i < GENERATED; i++) {
            if (expected.tokens[i] == actual.tokens[i]) {
                continue;
            }
            float[] row = java.util.Arrays.copyOfRange(expected.logits, i * vocab, (i + 1) * vocab);
            float[] other = java.util.Arrays.copyOfRange(actual.logits, i * vocab, (i + 1) * vocab);
            double gap = row[expected.tokens[i]] - row[actual.tokens[i]];
            double maxDiff = 0;
            for (int v = 0; v < vocab; v++) {
                maxDiff = Math.max(maxDiff, Math.abs(row[v] - other[v]));
            }
            assertTrue(gap <= 2 * maxDiff, "step " + i + ": greedy token " + actual.tokens[i] + " instead of "
                    + expected.tokens[i] + ", whose lead " + gap + " is more than the logit error " + maxDiff);
        }
    }

    /**
     * A SentencePiece vocabulary that came from a tokenizer.json (merges, no scores) gets scores in GGUF from which
     * score-driven SentencePiece BPE (what llama.cpp runs) encodes as the merges do.
     */
    @org.junit.jupiter.api.Test
    void scoresDerivedFromMergesEncodeAlike(@TempDir Path dir) throws IOException {
        Path hf = dir.resolve("hf");
        try (ModelFile f = ModelLoaders.open(source("stories260K-f32.gguf"))) {
            ModelConverter.convert(f, hf, ModelConverter.Target.HF, null, null);
        }
        try (ModelFile f = ModelLoaders.open(hf)) {
            dev.jllm.tokenizer.TokenizerSpec merged = f.tokenizer();
            assertEquals(null, merged.scores());
            float[] scores = ModelConverter.scoresFromMerges(merged);
            var byScore = new dev.jllm.tokenizer.TokenizerSpec(merged.model(), merged.pre(), merged.tokens(), scores,
                    merged.tokenTypes(), null, merged.bosId(), merged.eosId(), merged.unkId(), merged.padId(),
                    merged.addBos(), merged.addEos(), merged.addSpacePrefix(), merged.chatTemplate());
            var a = dev.jllm.tokenizer.Tokenizer.from(merged);
            var b = dev.jllm.tokenizer.Tokenizer.from(byScore);
            for (String text : List.of("Once upon a time, there was a little girl named Lily.",
                    "She liked to play outside with her dog Max!", "  odd   spacing\nand lines", "ünïcödé 123")) {
                assertArrayEquals(a.encode(text, true, false), b.encode(text, true, false), text);
            }
        }
    }

    /**
     * GGUF with --type q4_k, q6_k and q4_k_m from synth256-f16.gguf is what llama-quantize wrote from the same file
     * (--pure q4_k, --pure q6_k, and its default Q4_K_M mixture): the same tensors in the same types, byte for byte,
     * and the same file type; the converted file then runs and gives the reference file's logits exactly.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"q4_k, synth256-q4_k_m.gguf", "q6_k, synth256-q6_k.gguf",
        "q4_k_m, synth256-q4_k_m-mixed.gguf"})
    void kQuantsAreWhatLlamaQuantizeWrites(String type, String reference, @TempDir Path dir) throws IOException {
        Path out = dir.resolve(type + ".gguf");
        try (ModelFile file = ModelLoaders.open(source("synth256/synth256-f16.gguf"))) {
            ModelConverter.convertWithMix(file, out, ModelConverter.Target.GGUF, QuantMix.parse(type), null);
        }
        try (var ours = dev.jllm.format.gguf.GgufReader.read(out);
                var theirs = dev.jllm.format.gguf.GgufReader.read(source("synth256/" + reference))) {
            assertEquals(theirs.tensors().keySet(), ours.tensors().keySet());
            for (var t : theirs.tensors().values()) {
                var o = ours.tensors().get(t.name());
                assertEquals(t.type(), o.type(), t.name());
                assertArrayEquals(t.shape(), o.shape(), t.name());
                assertEquals(-1, t.data().mismatch(o.data()), t.name() + " bytes");
            }
            assertEquals(theirs.metadata().get("general.file_type"), ours.metadata().get("general.file_type"));
            assertEquals(theirs.metadata().get("general.quantization_version"),
                    ours.metadata().get("general.quantization_version"));
        }
        try (Model converted = Model.load(out, null);
                Model original = Model.load(source("synth256/" + reference), null)) {
            Run a = run(original, null);
            Run b = run(converted, a.tokens);
            assertArrayEquals(a.logits, b.logits, "the same weights give the same logits");
        }
    }

    @org.junit.jupiter.api.Test
    void aMixtureIsForGgufOnly(@TempDir Path dir) throws IOException {
        try (ModelFile file = ModelLoaders.open(source("synth256/synth256-f16.gguf"))) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelConverter.convertWithMix(file,
                    dir.resolve("hf"), ModelConverter.Target.HF, QuantMix.parse("q4_k_m"), null));
            assertTrue(e.getMessage().contains("q4_k_m") && e.getMessage().contains("GGUF only"), e.getMessage());
        }
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "nothing left behind");
        }
    }

    /** The part of the expected error message when the target format cannot hold this model, or null. */
    static String cannotExpress(ModelFile file, ModelConverter.Target target) {
        boolean scaled = file.tensorOrNull("rope_freqs.weight") != null || file.config().ropeScaling() != null;
        boolean llama2cConstants = file.config().ropeTheta() == 10000f && file.config().rmsEps() == 1e-5f;
        return switch (target) {
            case FLATBIN -> scaled ? "RoPE frequency scaling" : null;
            case LLAMA2C -> scaled ? "RoPE frequency scaling" : !llama2cConstants ? "llama2.c fixes rope_theta" : null;
            default -> null;
        };
    }

    /** Whether every tensor keeps its exact values. */
    static boolean lossless(ModelFile file, ModelConverter.Target target, GgmlType type) {
        GgmlType written = switch (target) {
            case FLATBIN -> GgmlType.F16;
            case LLAMA2C -> GgmlType.F32;
            default -> type;
        };
        if (written == null && target == ModelConverter.Target.GGUF) {
            return true; // same types, bytes copied
        }
        for (var t : file.tensors().values()) {
            GgmlType w = written == null ? (t.type() == GgmlType.F16 || t.type() == GgmlType.BF16 ? (GgmlType) t.type()
                    : GgmlType.F32) : written;
            // Any change of type changes the product's rounding (a quantized tensor widened to F32 keeps its values,
            // but its activations are no longer rounded to Q8 as ggml's kernels do).
            if (t.type() != w) {
                return false;
            }
        }
        return true;
    }

    /**
     * The relative logit error (max |diff| / max |logit| over the 8 teacher-forced steps) measured on 2026-12-03 for
     * each source when its values or its products' rounding change, rounded up to two digits: converted to another
     * float type (F32, the FP16 flat binary, the float HF and llama2.c files; for an F32 source only the FP16 flat
     * binary is lossy, FP16 rounding of the weights; a quantized or F16 source widened to F32 keeps its values, but its
     * activations are no longer rounded to 8 bits or F16 as ggml's kernels round them), to BF16, and to Q8_0 (0: the
     * Q8_0 source requantizes to itself). The random-weight models (synth256, llama3-tiny) have small logits close
     * together, so their relative errors are larger than stories260K's (largest logit about 18).
     */
    private static final Map<String, double[]> MEASURED = Map.of(
            "stories260K.bin", new double[] {9.0e-4, 4.3e-3, 1.2e-2},
            "stories260K-f32.gguf", new double[] {9.0e-4, 4.3e-3, 1.2e-2},
            "stories260K-q8_0-mixed.gguf", new double[] {8.0e-3, 1.1e-2, 0},
            "stories260K-q4_0-mixed.gguf", new double[] {8.9e-3, 1.2e-2, 1.5e-2},
            "synth256/synth256-f16.gguf", new double[] {1.2e-3, 1.5e-2, 3.2e-2},
            "synth256/synth256-q4_1.gguf", new double[] {2.1e-2, 2.5e-2, 3.6e-2},
            "synth256/synth256-q4_k_m-mixed.gguf", new double[] {3.3e-2, 3.6e-2, 6.3e-2},
            "synth256/synth256-q3_k_m.gguf", new double[] {3.0e-2, 3.7e-2, 4.6e-2},
            "llama3-tiny-q8_0.gguf", new double[] {1.8e-2, 2.2e-2, 0});

    /**
     * Three times the error measured for this source and kind of conversion ({@link #MEASURED}); where it measured 0,
     * the lossless bound.
     */
    static double tolerance(String name, ModelConverter.Target target, GgmlType type) {
        double[] measured = MEASURED.get(name);
        if (measured == null) {
            throw new AssertionError("no measured round-trip error for " + name + ": measure it and add it to MEASURED");
        }
        double m = type == GgmlType.Q8_0 ? measured[2] : type == GgmlType.BF16 ? measured[1] : measured[0];
        return m == 0 ? 1e-5 : 3 * m;
    }
}
