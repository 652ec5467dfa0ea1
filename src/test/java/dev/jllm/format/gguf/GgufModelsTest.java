package dev.jllm.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The GGUF files in ../shared/models and ../shared/vocab. */
class GgufModelsTest {

    private static final LlamaConfig STORIES =
            new LlamaConfig(64, 5, 8, 4, 172, 512, 128, 8, 8, 10000f, 1e-5f, null);

    @Test
    void stories260kF32() throws IOException {
        Path path = SharedTestData.file("models/stories260K-f32.gguf");
        try (ModelFile model = GgufReader.load(path)) {
            assertEquals("GGUF v3", model.format());
            assertEquals(path, model.path());
            assertEquals(STORIES, model.config());
            assertEquals(48, model.tensors().size());
            assertEquals(List.of("token_embd.weight", "output_norm.weight", "output.weight", "blk.0.attn_q.weight"),
                    model.tensors().keySet().stream().limit(4).toList());
            for (Tensor t : model.tensors().values()) {
                assertEquals(GgmlType.F32, t.type(), t.name());
            }
            assertArrayEquals(new long[] {64, 512}, model.tensor("token_embd.weight").shape());
            assertArrayEquals(new long[] {172, 64}, model.tensor("blk.4.ffn_down.weight").shape());

            TokenizerSpec t = model.tokenizer();
            assertEquals("llama", t.model());
            assertEquals(512, t.vocabSize());
            assertEquals("<unk>", t.tokens()[0]);
            assertEquals(512, t.scores().length);
            assertEquals(512, t.tokenTypes().length);
            assertEquals(TokenizerSpec.TYPE_UNKNOWN, t.tokenTypes()[0]);
            assertEquals(TokenizerSpec.TYPE_CONTROL, t.tokenTypes()[1]);
            assertNull(t.merges());
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals(0, t.unkId());
            assertEquals(-1, t.padId());
            assertTrue(t.addBos());
            assertFalse(t.addEos());
            assertTrue(t.addSpacePrefix());
            assertEquals("tokenizer.ggml.tokens", model.metadata().keySet().iterator().next());
            assertEquals(4294967295L, model.metadata().get("tokenizer.ggml.seperator_token_id"));

            // The same weights as llama2.c's stories260K.bin: compare a few tensors value for value.
            ByteBuffer bin = ByteBuffer.wrap(Files.readAllBytes(SharedTestData.file("models/stories260K.bin")))
                    .order(ByteOrder.LITTLE_ENDIAN);
            int dim = 64, hidden = 172, layers = 5, vocab = 512, kvDim = 32;
            long embedding = 28;
            long w3 = embedding + 4L * (vocab * dim + layers * dim + layers * dim * dim * 2L + layers * dim * kvDim * 2L
                    + layers * dim + 2L * layers * hidden * dim);
            long rmsFinal = w3 + 4L * layers * hidden * dim;
            assertSameFloats(bin, embedding, model.tensor("token_embd.weight"));
            assertSameFloats(bin, w3 + 4L * 4 * hidden * dim, model.tensor("blk.4.ffn_up.weight"));
            assertSameFloats(bin, rmsFinal, model.tensor("output_norm.weight"));
        }
    }

    private static void assertSameFloats(ByteBuffer bin, long offset, Tensor tensor) {
        float[] values = tensor.toFloatArray();
        for (int i = 0; i < values.length; i++) {
            assertEquals(bin.getFloat((int) offset + 4 * i), values[i], tensor.name() + "[" + i + "]");
        }
    }

    @Test
    void stories260kGgmlOrgConversion() {
        try (ModelFile model = GgufReader.load(SharedTestData.file("models/stories260K.gguf"))) {
            assertEquals(STORIES.withContextLength(2048), model.config());
        }
    }

    @Test
    void stories260kQuantizedMixtures() {
        for (String name : List.of("q8_0", "q4_0")) {
            try (ModelFile model = GgufReader.load(SharedTestData.file("models/stories260K-" + name + "-mixed.gguf"))) {
                assertEquals(STORIES, model.config());
                GgmlType quantized = name.equals("q8_0") ? GgmlType.Q8_0 : GgmlType.Q4_0;
                assertEquals(quantized, model.tensor("blk.0.attn_q.weight").type());
                assertEquals(quantized, model.tensor("token_embd.weight").type());
                assertEquals(GgmlType.F32, model.tensor("blk.0.ffn_down.weight").type(), "172 is not a multiple of 32");
                assertEquals(GgmlType.F32, model.tensor("output_norm.weight").type());
                assertEquals(quantized.bytesFor(64 * 512), model.tensor("token_embd.weight").byteSize());
                assertEquals(512, model.tokenizer().vocabSize());
            }
        }
    }

    /**
     * The Llama 3 vocabulary (128256 tokens, 280147 merges) loads with work in proportion to it. Measured as memory
     * allocated by the loading thread (an event count, the same on a busy machine as on a quiet one), not as time:
     * 44 MB measured (2026-12-03); work growing faster than the vocabulary (a copy per token, a quadratic merge
     * table) would take several times that. Time is printed for information; speed belongs to benchmarks.
     */
    @Test
    void llama3Tiny() {
        Path path = SharedTestData.file("models/llama3-tiny-q8_0.gguf");
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
        long start = System.nanoTime();
        ModelFile model = GgufReader.load(path);
        long millis = (System.nanoTime() - start) / 1_000_000;
        long allocated = threads.getCurrentThreadAllocatedBytes() - allocatedBefore;
        try (model) {
            System.out.println("llama3-tiny-q8_0.gguf (128256 tokens, 280147 merges) loaded in " + millis + " ms, "
                    + allocated / 1_000_000 + " MB allocated");
            assertTrue(allocated < 100_000_000L, "loading allocated " + allocated + " bytes");
            assertEquals(new LlamaConfig(128, 2, 4, 1, 384, 128256, 131072, 32, 32, 500000f, 1e-5f, null),
                    model.config());
            assertNull(model.config().ropeScaling());
            TokenizerSpec t = model.tokenizer();
            assertEquals("gpt2", t.model());
            assertEquals("llama-bpe", t.pre());
            assertEquals(128256, t.vocabSize());
            assertEquals(280147, t.merges().size());
            assertEquals("Ġ Ġ", t.merges().get(0));
            assertNull(t.scores());
            assertEquals(128256, t.tokenTypes().length);
            assertEquals("<|begin_of_text|>", t.tokens()[128000]);
            assertEquals(128000, t.bosId());
            assertEquals(128001, t.eosId());
            assertTrue(t.addBos());
            assertFalse(t.addEos());
            assertFalse(t.addSpacePrefix());

            Tensor freqs = model.tensor("rope_freqs.weight");
            assertEquals(GgmlType.F32, freqs.type());
            assertArrayEquals(new long[] {16}, freqs.shape());
            float[] factors = freqs.toFloatArray();
            assertEquals(1f, factors[0], "high-frequency dimensions are not scaled");
            assertEquals(32f, factors[15], "low-frequency dimensions are scaled by the factor");
            for (float f : factors) {
                assertTrue(f >= 1f && f <= 32f, "factor " + f);
            }
            assertEquals(GgmlType.Q8_0, model.tensor("token_embd.weight").type());
            assertArrayEquals(new long[] {128, 128256}, model.tensor("token_embd.weight").shape());
            assertNull(model.tensorOrNull("output.weight"), "output is tied to the embeddings");
        }
    }

    @Test
    void synth256EveryType() throws IOException {
        Map<String, GgmlType> matrixTypes = Map.ofEntries(
                Map.entry("f16", GgmlType.F16), Map.entry("q4_1", GgmlType.Q4_1), Map.entry("q5_0", GgmlType.Q5_0),
                Map.entry("q5_1", GgmlType.Q5_1), Map.entry("q2_k", GgmlType.Q2_K), Map.entry("q3_k_m", GgmlType.Q3_K),
                Map.entry("q4_k_m", GgmlType.Q4_K), Map.entry("q5_k_m", GgmlType.Q5_K), Map.entry("q6_k", GgmlType.Q6_K),
                Map.entry("iq4_nl", GgmlType.IQ4_NL), Map.entry("iq4_xs", GgmlType.IQ4_XS),
                Map.entry("q4_k_m-mixed", GgmlType.Q4_K));
        try (var files = Files.list(SharedTestData.dir().resolve("models/synth256"))) {
            List<Path> paths = files.filter(p -> p.toString().endsWith(".gguf")).sorted().toList();
            assertEquals(matrixTypes.size(), paths.size(), paths.toString());
            for (Path path : paths) {
                String type = path.getFileName().toString().replace("synth256-", "").replace(".gguf", "");
                try (ModelFile model = GgufReader.load(path)) {
                    assertEquals(new LlamaConfig(256, 4, 8, 4, 768, 512, 512, 32, 32, 10000f, 1e-5f, null),
                            model.config(), path.toString());
                    assertEquals(matrixTypes.get(type), model.tensor("blk.0.attn_q.weight").type(), path.toString());
                    assertEquals(GgmlType.F32, model.tensor("output_norm.weight").type());
                    assertEquals(4 * 9 + 3, model.tensors().size());
                }
            }
        }
    }

    @Test
    void vocabularyOnlyFiles() {
        TokenizerSpec spm = GgufReader.readTokenizer(SharedTestData.file("vocab/ggml-vocab-llama-spm.gguf"));
        assertEquals("llama", spm.model());
        assertEquals(32000, spm.vocabSize());
        assertTrue(spm.addBos());
        assertTrue(spm.addSpacePrefix());

        TokenizerSpec llama3 = GgufReader.readTokenizer(SharedTestData.file("vocab/ggml-vocab-llama3-from-tiktoken.gguf"));
        assertEquals(128256, llama3.vocabSize());
        assertEquals(280147, llama3.merges().size());

        TokenizerSpec gpt2 = GgufReader.readTokenizer(SharedTestData.file("vocab/ggml-vocab-gpt-2.gguf"));
        assertEquals("gpt2", gpt2.model());
        assertEquals("gpt-2", gpt2.pre());
        assertEquals(50257, gpt2.vocabSize());
        assertFalse(gpt2.addBos(), "llama.cpp adds no BOS for the gpt-2 pre-tokenizer by default");
        assertFalse(gpt2.addSpacePrefix());
        assertEquals(50256, gpt2.bosId());

        TokenizerSpec phi3 = GgufReader.readTokenizer(SharedTestData.file("vocab/ggml-vocab-phi-3.gguf"));
        assertEquals(32064, phi3.vocabSize());
        assertEquals(32000, phi3.padId());
        assertNotNull(phi3.chatTemplate());
        assertTrue(phi3.chatTemplate().startsWith("{{ bos_token }}"));

        // A vocabulary-only llama file still loads as a model (no tensors; vocabulary size from llama.vocab_size).
        try (ModelFile model = GgufReader.load(SharedTestData.file("vocab/ggml-vocab-llama-spm.gguf"))) {
            assertTrue(model.tensors().isEmpty());
            assertEquals(32000, model.config().vocabSize());
            assertEquals(4096, model.config().dim());
        }
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> GgufReader.load(SharedTestData.file("vocab/ggml-vocab-phi-3.gguf")));
        assertTrue(e.getMessage().contains("architecture 'phi3' is not supported (expected 'llama')"), e.getMessage());
    }

    @Test
    void rawReadKeepsEverything() {
        try (GgufFile gguf = GgufReader.read(SharedTestData.file("models/llama3-tiny-q8_0.gguf"))) {
            assertEquals(3, gguf.version());
            assertEquals(32, gguf.alignment());
            assertEquals(21, gguf.tensorInfos().size());
            assertEquals(23, gguf.metadata().size());
            assertEquals(GgufValueType.UINT32, gguf.valueTypes().get("llama.context_length"));
            assertEquals(GgufValueType.FLOAT32, gguf.valueTypes().get("llama.rope.freq_base"));
            assertEquals(131072L, gguf.metadata().get("llama.context_length"));
            assertEquals(0, gguf.dataOffset() % 32);
            GgufTensorInfo first = gguf.tensorInfos().get(0);
            assertEquals("output_norm.weight", first.name());
            assertEquals(0, first.offset());
            assertEquals(512, first.bytes());
            assertEquals(gguf.segment().byteSize(), gguf.dataOffset() + gguf.tensorInfos().stream()
                    .mapToLong(t -> t.offset() + t.bytes()).max().orElseThrow(), "the last tensor ends the file");
        }
    }
}
