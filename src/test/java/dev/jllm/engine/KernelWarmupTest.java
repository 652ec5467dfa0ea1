package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.TestSeeds;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import dev.jllm.model.Llama;
import dev.jllm.model.LlamaConfig;
import dev.jllm.model.Weights;
import dev.jllm.quant.QuantMix;
import dev.jllm.synth.ModelShape;
import dev.jllm.synth.SyntheticModel;
import dev.jllm.synth.Vocabulary;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The warm-up runs the model's own code paths on a miniature (same tensor types, head width and context, so the same
 * kernels and branches) and leaves the model's results untouched, bit for bit, even when the model computes while the
 * warm-up is still running.
 */
class KernelWarmupTest {

    @TempDir
    static Path dir;

    private static final long SEED = TestSeeds.seed("KernelWarmupTest");

    /** Large enough to get a miniature: width 512, 8 query heads over 2 key/value heads of 64, feed-forward 1024. */
    private static final ModelShape SHAPE = new ModelShape("warmup", 512, 2, 8, 2, 1024, 600, 256, 10000f, 1e-5f,
            false, null);

    private static Path synth(QuantMix mix, String name) throws IOException {
        Path file = dir.resolve(name);
        SyntheticModel.write(new SyntheticModel.Options(SHAPE, mix, Vocabulary.generated(SHAPE.vocabSize()), SEED, 2),
                file, null);
        return file;
    }

    @Test
    void theMiniatureKeepsWhatDecidesTheCodePaths() throws IOException {
        for (QuantMix mix : new QuantMix[] {new QuantMix.Uniform(GgmlType.Q4_0), new QuantMix.Uniform(GgmlType.Q8_0),
                new QuantMix.Uniform(GgmlType.F16), QuantMix.parse("q4_k_m")}) {
            try (ModelFile file = ModelLoaders.open(synth(mix, mix.name() + ".gguf"))) {
                Llama mini = KernelWarmup.miniature(file, null);
                assertNotNull(mini, mix.name());
                LlamaConfig real = file.config();
                LlamaConfig small = mini.config();
                assertEquals(real.headDim(), small.headDim(), mix.name());
                assertEquals(real.ropeDim(), small.ropeDim(), mix.name());
                assertEquals(real.contextLength(), small.contextLength(), mix.name() + ": the context (under 4096)");
                assertTrue(small.heads() >= 2 * small.kvHeads(), mix.name() + ": grouped-query attention");
                assertTrue((long) small.dim() * small.hiddenDim() * 4 <= (long) real.dim() * real.hiddenDim(),
                        mix.name());
                Weights w = mini.weights();
                String[] roles = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
                Weights.Layer layer = w.layer(0);
                Tensor[] ours = {layer.wq(), layer.wk(), layer.wv(), layer.wo(), layer.wGate(), layer.wUp(),
                        layer.wDown()};
                for (int i = 0; i < roles.length; i++) {
                    Tensor theirs = file.tensor("blk.0." + roles[i] + ".weight");
                    assertEquals(theirs.type(), ours[i].type(), mix.name() + " " + roles[i]);
                    assertEquals(0, ours[i].rowLength() % theirs.type().blockSize(), mix.name() + " " + roles[i]);
                }
                assertEquals(file.tensor("token_embd.weight").type(), w.tokenEmbedding().type(), mix.name());
                assertEquals(file.tensorOrNull("output.weight") != null ? file.tensor("output.weight").type()
                        : file.tensor("token_embd.weight").type(), w.output().type(), mix.name());
                KernelWarmup.round(mini); // it runs
            }
        }
    }

    /** A repacked model's miniature is repacked too, so that the kernels the warm-up compiles are the model's. */
    @Test
    void aRepackedModelsMiniatureIsRepacked() throws IOException {
        try (ModelFile file = ModelLoaders.open(synth(new QuantMix.Uniform(GgmlType.Q8_0), "repacked.gguf"));
                java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Weights direct = KernelWarmup.miniature(file, null).weights();
            Weights repacked = KernelWarmup.miniature(file, arena).weights();
            assertTrue(direct.layer(0).wUp().type() instanceof GgmlType, "not repacked without an arena");
            if (dev.jllm.tensor.Repacking.applies(direct.layer(0).wUp())) { // where the CPU has 512-bit vectors
                assertTrue(repacked.layer(0).wUp().type() instanceof dev.jllm.tensor.RepackedType,
                        String.valueOf(repacked.layer(0).wUp().type()));
            }
        }
    }

    @Test
    void aSmallModelGetsNoWarmUp() {
        try (ModelFile file = ModelLoaders.open(SharedData.model("stories260K.gguf"))) {
            assertNull(KernelWarmup.miniature(file, null), "a model about as small as the miniature compiles fast by itself");
        }
        try (Model model = Model.load(SharedData.model("stories260K.gguf"), null)) {
            model.startWarmUp();
            assertNull(model.awaitWarmUp());
        }
    }

    @Test
    void resultsAreTheSameWithAndWithoutTheWarmUpRunningAlongside() throws IOException {
        Path file = synth(new QuantMix.Uniform(GgmlType.Q4_0), "same.gguf");
        int[] prompt = {1, 17, 300, 42, 599};
        float[] plain;
        try (Model model = Model.load(file, null)) {
            plain = logits(model, prompt);
        }
        String property = System.getProperty("jllm.warmup");
        try (Model model = Model.load(file, null)) {
            System.clearProperty("jllm.warmup");
            model.startWarmUp();
            float[] alongside = logits(model, prompt); // while the warm-up may still run
            String done = model.awaitWarmUp();
            assertNotNull(done);
            Matcher m = Pattern.compile("(\\d+) rounds in (\\d+) ms").matcher(done);
            assertTrue(m.matches(), done);
            assertTrue(Integer.parseInt(m.group(1)) >= 1, done);
            assertArrayEquals(plain, alongside);
            assertArrayEquals(plain, logits(model, prompt));
        } finally {
            restore(property);
        }
    }

    @Test
    void closingTheModelEndsTheWarmUpFirst() throws IOException {
        Path file = synth(new QuantMix.Uniform(GgmlType.Q4_0), "close.gguf");
        String property = System.getProperty("jllm.warmup");
        Model model = Model.load(file, null);
        try {
            System.clearProperty("jllm.warmup");
            model.startWarmUp();
        } finally {
            model.close(); // at once: the warm-up reads the model's mapped memory, which closing unmaps
            restore(property);
        }
        String done = model.awaitWarmUp();
        assertNotNull(done);
        assertTrue(done.matches("\\d+ rounds in \\d+ ms"), "ended by the close, not by a failure: " + done);
    }

    @Test
    void thePropertyTurnsItOff() throws IOException {
        Path file = synth(new QuantMix.Uniform(GgmlType.Q8_0), "off.gguf");
        String property = System.getProperty("jllm.warmup");
        try (Model model = Model.load(file, null)) {
            System.setProperty("jllm.warmup", "false");
            model.startWarmUp();
            assertNull(model.awaitWarmUp());
        } finally {
            restore(property);
        }
    }

    private static void restore(String property) {
        if (property == null) {
            System.clearProperty("jllm.warmup");
        } else {
            System.setProperty("jllm.warmup", property);
        }
    }

    /** The logits of every prompt token, in a fresh FP16 cache. */
    private static float[] logits(Model model, int[] prompt) {
        KvCache cache = model.newKvCache(1, 64, KvCache.Type.F16);
        return model.forward(Batch.ofSequence(0, prompt, 0, true), cache);
    }
}
