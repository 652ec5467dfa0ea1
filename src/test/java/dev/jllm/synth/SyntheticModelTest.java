package dev.jllm.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.quant.QuantMix;
import dev.jllm.quant.Quantizer;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The random-weight model generator: structure, determinism, statistics, vocabulary, rope factors. */
class SyntheticModelTest {

    @TempDir
    Path dir;

    private final long seed = dev.jllm.TestSeeds.seed("SyntheticModelTest");

    /** dim 64, 2 layers, 4 heads, 2 KV heads, hidden 72 (not a multiple of 32: ffn_down stays F32 in Q types). */
    private static ModelShape small(int vocab) {
        return new ModelShape("small", 64, 2, 4, 2, 72, vocab, 64, 10000f, 1e-5f, false, null);
    }

    private Path write(ModelShape shape, GgmlType type, long seed, int threads, String name) throws IOException {
        Path file = dir.resolve(name);
        SyntheticModel.write(new SyntheticModel.Options(shape, type, Vocabulary.generated(shape.vocabSize()), seed,
                threads), file, null);
        return file;
    }

    @Test
    void ropeFactorsMatchLlamaCppsConversion() {
        // llama3-tiny's rope_freqs were written by llama.cpp's converter: head size 32, theta 500000, factor 32,
        // low 1, high 4, original context 8192
        try (GgufFile f = GgufReader.read(SharedData.model("llama3-tiny-q8_0.gguf"))) {
            float[] expected = f.tensors().get("rope_freqs.weight").toFloatArray();
            float[] ours = dev.jllm.model.Weights.llama3FreqFactors(32, 500000f, new dev.jllm.model.LlamaConfig.RopeScaling(32f, 1f, 4f, 8192));
            assertArrayEquals(expected, ours);
        }
    }

    @Test
    void sameSeedSameFileWhateverTheThreads() throws IOException {
        ModelShape shape = small(300);
        Path one = write(shape, GgmlType.Q8_0, seed, 1, "one.gguf");
        Path three = write(shape, GgmlType.Q8_0, seed, 3, "three.gguf");
        assertEquals(-1, Files.mismatch(one, three), "seed " + seed);
        Path other = write(shape, GgmlType.Q8_0, seed + 1, 2, "other.gguf");
        try (GgufFile a = GgufReader.read(one); GgufFile b = GgufReader.read(other)) {
            Tensor ta = a.tensors().get("blk.1.ffn_up.weight");
            Tensor tb = b.tensors().get("blk.1.ffn_up.weight");
            assertFalse(Arrays.equals(ta.toFloatArray(), tb.toFloatArray()), "another seed, other weights");
        }
    }

    @Test
    void everyTypeHoldsTheF32WeightsConverted() throws IOException {
        ModelShape shape = small(300);
        Path f32 = write(shape, GgmlType.F32, seed, 2, "f32.gguf");
        try (GgufFile reference = GgufReader.read(f32)) {
            Map<String, Tensor> floats = reference.tensors();
            for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
                try (GgufFile file = GgufReader.read(write(shape, type, seed, 2, type + ".gguf"))) {
                    assertEquals(floats.keySet(), file.tensors().keySet());
                    for (Tensor t : file.tensors().values()) {
                        Tensor source = floats.get(t.name());
                        assertArrayEquals(source.shape(), t.shape(), t.name());
                        boolean matrix = t.shape().length == 2;
                        boolean fits = t.shape()[0] % type.blockSize() == 0;
                        GgmlType expectedType = matrix && fits ? type : GgmlType.F32;
                        assertEquals(expectedType, t.type(), t.name() + " in the " + type + " file");
                        byte[] expected = Quantizer.of(expectedType).quantize(source.toFloatArray());
                        assertArrayEquals(expected, t.data().toArray(ValueLayout.JAVA_BYTE), t.name() + " " + type);
                    }
                    assertEquals((long) SyntheticModel.fileType(type), file.metadata().get("general.file_type"));
                }
            }
            // llama.cpp's enum llama_ftype
            assertEquals(0L, reference.metadata().get("general.file_type"));
            assertEquals(1, SyntheticModel.fileType(GgmlType.F16));
            assertEquals(2, SyntheticModel.fileType(GgmlType.Q4_0));
            assertEquals(7, SyntheticModel.fileType(GgmlType.Q8_0));
            assertEquals(32, SyntheticModel.fileType(GgmlType.BF16));
            assertEquals(GgmlType.F32, floats.get("blk.0.ffn_down.weight").type());
        }
    }

    /**
     * --type q4_k, q6_k and q4_k_m: the types llama-quantize gives each tensor (checked by hand against llama-quantize
     * on files of these shapes: Q6_K for attn_v and ffn_down in layers 0, 3, 6 and 7 of 8, for the output matrix, or
     * for the token embeddings when the output is tied to them; Q5_0 or Q8_0 for a Q4_K or Q6_K matrix whose rows are
     * not whole 256-value blocks), the F32 file's weights quantized as the quantizers do, file type 15 or 18, and a
     * model the engine runs.
     */
    @Test
    void kQuantFilesHoldTheF32WeightsInLlamaQuantizesTypes() throws IOException {
        ModelShape untied = new ModelShape("k8", 256, 8, 4, 2, 288, 300, 64, 10000f, 1e-5f, false, null);
        ModelShape tied = new ModelShape("k2tied", 256, 2, 4, 2, 512, 300, 64, 10000f, 1e-5f, true, null);
        for (ModelShape shape : new ModelShape[] {untied, tied}) {
            Path f32 = write(shape, GgmlType.F32, seed, 2, shape.name() + "-f32.gguf");
            try (GgufFile reference = GgufReader.read(f32)) {
                for (String mixName : new String[] {"q4_k", "q6_k", "q4_k_m"}) {
                    QuantMix mix = QuantMix.parse(mixName);
                    Path path = dir.resolve(shape.name() + "-" + mixName + ".gguf");
                    SyntheticModel.write(new SyntheticModel.Options(shape, mix, Vocabulary.generated(300), seed, 2),
                            path, null);
                    try (GgufFile file = GgufReader.read(path)) {
                        assertEquals(reference.tensors().keySet(), file.tensors().keySet());
                        for (Tensor t : file.tensors().values()) {
                            GgmlType want = expectedType(mixName, t, shape);
                            assertEquals(want, t.type(), t.name() + " in " + shape.name() + " " + mixName);
                            float[] values = reference.tensors().get(t.name()).toFloatArray();
                            assertArrayEquals(Quantizer.of(want).quantize(values),
                                    t.data().toArray(ValueLayout.JAVA_BYTE), t.name() + " " + mixName);
                        }
                        assertEquals(mixName.equals("q6_k") ? 18L : 15L, file.metadata().get("general.file_type"));
                        assertEquals(2L, file.metadata().get("general.quantization_version"));
                    }
                    try (dev.jllm.engine.Model model = dev.jllm.engine.Model.load(path, null)) {
                        float[] logits = model.newSession(dev.jllm.engine.SessionOptions.defaults(16))
                                .append(new int[] {1, 5, 9});
                        for (float v : logits) {
                            assertTrue(Float.isFinite(v), shape.name() + " " + mixName + " logits");
                        }
                    }
                }
            }
        }
    }

    /** The type llama-quantize gives, spelled out for the two test shapes. */
    private static GgmlType expectedType(String mix, Tensor t, ModelShape shape) {
        String name = t.name();
        if (t.shape().length == 1) {
            return GgmlType.F32;
        }
        boolean fullRows = t.shape()[0] % 256 == 0; // ffn_down of the untied shape has rows of 288
        GgmlType q4k = fullRows ? GgmlType.Q4_K : GgmlType.Q5_0;
        GgmlType q6k = fullRows ? GgmlType.Q6_K : GgmlType.Q8_0;
        return switch (mix) {
            case "q4_k" -> q4k;
            case "q6_k" -> q6k;
            default -> {
                boolean output = name.equals("output.weight")
                        || shape.tiedEmbeddings() && name.equals("token_embd.weight");
                boolean moreBitsLayer = shape.layers() == 8
                        ? name.matches("blk\\.[0367]\\..*") : name.startsWith("blk.1."); // 2 layers: the last
                boolean vOrDown = name.endsWith("attn_v.weight") || name.endsWith("ffn_down.weight");
                yield output || moreBitsLayer && vOrDown ? q6k : q4k;
            }
        };
    }

    @Test
    void weightsAreNormalWithStd002AndNormsAreOne() throws IOException {
        ModelShape shape = new ModelShape("stats", 256, 1, 4, 4, 512, 2000, 64, 10000f, 1e-5f, false, null);
        try (GgufFile file = GgufReader.read(write(shape, GgmlType.F32, seed, 2, "stats.gguf"))) {
            Set<Integer> firstValues = new HashSet<>();
            for (Tensor t : file.tensors().values()) {
                float[] x = t.toFloatArray();
                if (t.name().endsWith("norm.weight")) {
                    for (float v : x) {
                        assertEquals(1f, v, t.name());
                    }
                    continue;
                }
                double sum = 0, squares = 0;
                int withinOneSigma = 0;
                for (float v : x) {
                    sum += v;
                    squares += v * (double) v;
                    withinOneSigma += Math.abs(v) <= 0.02 ? 1 : 0;
                }
                int n = x.length;
                double mean = sum / n;
                double std = Math.sqrt(squares / n - mean * mean);
                String where = t.name() + " (" + n + " values, seed " + seed + ")";
                assertTrue(Math.abs(mean) < 6 * 0.02 / Math.sqrt(n), "mean " + mean + " of " + where);
                assertTrue(Math.abs(std - 0.02) < 0.02 * 8 / Math.sqrt(n), "std " + std + " of " + where);
                double p = (double) withinOneSigma / n; // 68.27% for a normal distribution
                assertTrue(Math.abs(p - 0.6827) < 6 * Math.sqrt(0.6827 * 0.3173 / n), "P(|x| <= sigma) " + p + " " + where);
                assertTrue(firstValues.add(Float.floatToIntBits(x[0])), "each tensor draws its own values: " + where);
                // rows from different chunks are different draws
                int rowLength = t.rowLength();
                assertFalse(Arrays.equals(x, 0, rowLength, x, n - rowLength, n), where);
            }
        }
    }

    @Test
    void generatedVocabularyIsAWorkingSentencePieceVocabulary() throws IOException {
        ModelShape shape = small(2000);
        Path file = write(shape, GgmlType.F16, seed, 2, "vocab.gguf");
        try (GgufFile g = GgufReader.read(file)) {
            String[] tokens = (String[]) g.metadata().get("tokenizer.ggml.tokens");
            assertEquals(2000, tokens.length);
            assertEquals(tokens.length, new HashSet<>(Arrays.asList(tokens)).size(), "unique pieces");
            assertEquals("<unk>", tokens[0]);
            assertEquals("<s>", tokens[1]);
            assertEquals("</s>", tokens[2]);
            assertEquals("<0x00>", tokens[3]);
            assertEquals("<0xFF>", tokens[258]);
            int[] types = (int[]) g.metadata().get("tokenizer.ggml.token_type");
            assertEquals(6, types[100]);
            assertEquals(1, types[1999]);
            Tokenizer tokenizer = Tokenizer.from(GgufReader.tokenizerSpec(g));
            String text = "hello world, the quick brown fox! Ünïcödé 日本";
            int[] ids = tokenizer.encode(text, true, false);
            assertEquals(1, ids[0], "BOS");
            assertEquals(text, tokenizer.decode(Arrays.copyOfRange(ids, 1, ids.length)).stripLeading());
            // 2000 tokens reach the two-letter words with their word-start mark
            int[] words = tokenizer.encode("at ox", false, false);
            assertEquals(2, words.length, "whole words are pieces: " + Arrays.toString(words));
            assertEquals("▁at", tokens[words[0]]);
            assertEquals("▁ox", tokens[words[1]]);
        }
        assertThrows(IllegalArgumentException.class, () -> Vocabulary.generated(Vocabulary.MIN_GENERATED_SIZE - 1));
        assertEquals(Vocabulary.MIN_GENERATED_SIZE, Vocabulary.generated(Vocabulary.MIN_GENERATED_SIZE).size());
    }

    @Test
    void llama3ShapesAreTiedWithRopeFactors() throws IOException {
        ModelShape named = ModelShape.named("llama-3.2-1b");
        assertTrue(named.tiedEmbeddings());
        ModelShape shape = new ModelShape("llama3-small", 128, 1, 4, 1, 256, 300, 256, named.ropeTheta(),
                named.rmsEps(), true, named.ropeScaling());
        try (GgufFile g = GgufReader.read(write(shape, GgmlType.Q4_0, seed, 2, "l3.gguf"))) {
            assertNull(g.tensors().get("output.weight"));
            assertArrayEquals(dev.jllm.model.Weights.llama3FreqFactors(32, 500000f, named.ropeScaling()),
                    g.tensors().get("rope_freqs.weight").toFloatArray());
            assertEquals(500000f, g.metadata().get("llama.rope.freq_base"));
        }
    }

    @Test
    void namedShapesHaveTheirPublishedSizes() {
        // parameter counts as published for the real models
        assertEquals(1_100_048_384L, ModelShape.named("tinyllama-1.1b").parameterCount());
        assertEquals(1_235_814_400L, ModelShape.named("llama-3.2-1b").parameterCount() - 32);
        assertEquals(6_738_415_616L, ModelShape.named("llama-2-7b").parameterCount());
        assertEquals(8_030_261_248L, ModelShape.named("llama-3-8b").parameterCount());
        for (String name : ModelShape.names()) {
            ModelShape.named(name).validate();
        }
    }
}
