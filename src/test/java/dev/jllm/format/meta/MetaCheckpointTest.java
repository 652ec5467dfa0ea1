package dev.jllm.format.meta;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import dev.jllm.format.pytorch.TorchStorageType;
import dev.jllm.model.LlamaConfig;
import dev.jllm.model.Weights;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Meta's layout: the derived sizes as Meta's code derives them, and shards made here from stories260K.bin in every
 * way Meta splits them, joined back to the very same weights.
 */
class MetaCheckpointTest {

    static final String STORIES_PARAMS = "{\"dim\": 64, \"multiple_of\": 4, \"n_heads\": 8, \"n_kv_heads\": 4,"
            + " \"n_layers\": 5, \"norm_eps\": 1e-05, \"vocab_size\": 512}";

    @TempDir
    Path dir;

    /** Published Meta models: params.json values and the w1 rows of their consolidated weights. */
    @ParameterizedTest
    @CsvSource({
        "64, 4, , 172", // stories260K
        "4096, 256, , 11008", // Llama 2 7B
        "5120, 256, , 13824", // Llama 2 13B
        "8192, 4096, 1.3, 28672", // Llama 2 70B and Llama 3 70B
        "4096, 1024, 1.3, 14336", // Llama 3 8B
        "2048, 256, 1.5, 8192", // Llama 3.2 1B
        "3072, 256, 1.0, 8192", // Llama 3.2 3B
        "16384, 4096, 1.2, 53248"}) // Llama 3.1 405B
    void hiddenSizeAsMetaComputesIt(int dim, int multipleOf, Double multiplier, int hidden) {
        assertEquals(hidden, MetaParams.metaHiddenDim(dim, multipleOf, multiplier));
    }

    @Test
    void ropeScalingAndContextFollowTheParams() {
        Map<String, Object> p = new HashMap<>(Map.of("dim", 128L, "n_layers", 2L, "n_heads", 4L, "n_kv_heads", 1L,
                "vocab_size", 1000L, "multiple_of", 32L, "ffn_dim_multiplier", 1.5, "norm_eps", 1e-5,
                "rope_theta", 500000.0, "use_scaled_rope", true));
        MetaParams scaled = MetaParams.from(p, "params.json");
        LlamaConfig c = scaled.config(1000);
        assertEquals(new LlamaConfig.RopeScaling(8f, 1f, 4f, 8192), c.ropeScaling());
        assertEquals(131072, c.contextLength());
        assertEquals(500000f, c.ropeTheta());
        assertEquals(1, c.kvHeads());
        // the frequency factors are Meta's apply_scaling: the forward pass divides by them
        float[] factors = Weights.llama3FreqFactors(c);
        assertEquals(1f, factors[0]);
        assertEquals(8f, factors[factors.length - 1]);
        p.put("use_scaled_rope", false);
        assertNull(MetaParams.from(p, "params.json").ropeScaling());
        assertEquals(8192, MetaParams.from(p, "params.json").contextLength(), "Llama 3");
        p.put("rope_theta", 10000.0);
        assertEquals(4096, MetaParams.from(p, "params.json").contextLength(), "Llama 2");
        p.put("max_seq_len", 512L);
        assertEquals(512, MetaParams.from(p, "params.json").contextLength());
        p.put("n_kv_heads", 3L);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> MetaParams.from(p, "params.json"));
        assertTrue(e.getMessage().contains("n_heads 4, n_kv_heads 3"), e.getMessage());
    }

    /** Every canonical tensor of {@code b} equals {@code a}'s, rounded to {@code type}. */
    static void assertSameWeights(ModelFile a, ModelFile b, TorchStorageType type) {
        for (Map.Entry<String, Tensor> e : a.tensors().entrySet()) {
            Tensor t = b.tensor(e.getKey());
            TorchStorageType stored = type;
            assertEquals(stored.ggmlType, t.type(), e.getKey());
            assertArrayEquals(e.getValue().shape(), t.shape(), e.getKey());
            float[] expected = e.getValue().toFloatArray();
            for (int i = 0; i < expected.length; i++) {
                expected[i] = switch (stored) {
                    case HALF -> Float.float16ToFloat(dev.jllm.quant.Halfs.toF16(expected[i]));
                    case BFLOAT16 -> Float.intBitsToFloat(dev.jllm.quant.Halfs.toBF16(expected[i]) << 16);
                    default -> expected[i];
                };
            }
            assertArrayEquals(expected, t.toFloatArray(), e.getKey());
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 1, FLOAT", "2, 1, FLOAT", "4, 1, HALF", "4, 0, FLOAT", "2, 0, BFLOAT16"})
    void shardsJoinBackToTheSameWeights(int shards, int embeddingAxis, TorchStorageType type) throws IOException {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            // every weight in the one type, norms too, as Meta's bf16 downloads; Llama 2's shards also carry
            // rope.freqs, which is read past
            MetaShardWriter.write(bin, dir, shards, embeddingAxis, type, Map.of("rope.freqs", new float[4]));
            MetaShardWriter.params(dir, STORIES_PARAMS.replace("512}", "-1}"));
            try (ModelFile meta = ModelLoaders.open(dir)) {
                assertEquals(512, meta.config().vocabSize(), "vocab_size -1: the embedding says");
                assertSameWeights(bin, meta, type);
                assertNull(meta.tensorOrNull("rope_freqs.weight"));
                assertNull(meta.tokenizer(), "no tokenizer.model in the directory");
                assertEquals(shards, meta.metadata().get("meta.shards"));
                assertEquals(shards == 1, meta.tensor("blk.0.attn_q.weight").data().isMapped());
            }
        }
    }

    @Test
    void shardsThatDisagreeOnANormAreRefused() throws IOException {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            MetaShardWriter.write(bin, dir, 2, 1, TorchStorageType.FLOAT, Map.of());
            MetaShardWriter.params(dir, STORIES_PARAMS);
            Path other = Files.createDirectory(dir.resolve("other"));
            // shard 1 of another model, whose first attention norm differs
            MetaShardWriter.write(scaledNorms(bin), other, 2, 1, TorchStorageType.FLOAT, Map.of());
            Files.copy(other.resolve("consolidated.01.pth"), dir.resolve("consolidated.01.pth"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(dir));
            assertTrue(e.getMessage().contains("differs from") && e.getMessage().contains("replicate"), e.getMessage());
        }
    }

    /** The model with its first attention norm doubled (another model, as far as shards can tell). */
    private static ModelFile scaledNorms(ModelFile bin) {
        Map<String, Tensor> tensors = new java.util.LinkedHashMap<>(bin.tensors());
        Tensor norm = bin.tensor("blk.0.attn_norm.weight");
        float[] v = norm.toFloatArray();
        java.lang.foreign.MemorySegment data = java.lang.foreign.MemorySegment.ofArray(new float[v.length]);
        for (int i = 0; i < v.length; i++) {
            data.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, 2 * v[i]);
        }
        tensors.put(norm.name(), new Tensor(norm.name(), GgmlType.F32, norm.shape(), data));
        return new ModelFile(bin.format(), bin.path(), bin.config(), tensors, null, bin.metadata(), null);
    }

    @Test
    void aShardMissingATensorIsRefused() throws IOException {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            MetaShardWriter.write(bin, dir, 2, 1, TorchStorageType.FLOAT, Map.of());
            Path other = Files.createDirectory(dir.resolve("other"));
            MetaShardWriter.write(bin, other, 2, 1, TorchStorageType.FLOAT, Map.of("rope.freqs", new float[4]));
            Files.copy(other.resolve("consolidated.01.pth"), dir.resolve("consolidated.01.pth"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            MetaShardWriter.params(dir, STORIES_PARAMS);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(dir));
            assertTrue(e.getMessage().contains("holds other tensors than") && e.getMessage().contains("rope.freqs"),
                    e.getMessage());
        }
    }

    @Test
    void aHiddenSizeTheParamsDoNotGiveIsRefused() throws IOException {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            MetaShardWriter.write(bin, dir, 2, 1, TorchStorageType.FLOAT, Map.of());
            MetaShardWriter.params(dir, STORIES_PARAMS.replace("\"multiple_of\": 4", "\"multiple_of\": 64"));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(dir));
            assertTrue(e.getMessage().contains("has 172 rows, but dim 64, multiple_of 64")
                    && e.getMessage().contains("feed-forward width of 192"), e.getMessage());
        }
    }

    @Test
    void shardsThatCannotSplitTheHeadsAreRefused() throws IOException {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            MetaShardWriter.write(bin, dir, 2, 1, TorchStorageType.FLOAT, Map.of());
            Files.copy(dir.resolve("consolidated.01.pth"), dir.resolve("consolidated.02.pth"));
            MetaShardWriter.params(dir, STORIES_PARAMS);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(dir));
            assertTrue(e.getMessage().contains("3 shards cannot split 8 heads and 4 KV heads"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }
}
