package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.SharedData;
import dev.jllm.convert.ModelConverter;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.model.KvCache;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Hugging Face directories as transformers' own {@code save_pretrained} writes them
 * ({@code ../shared/models/hf-transformers/stories260K-{bf16,f16}}: two safetensors shards with an index,
 * {@code rope_parameters} in config.json, transformers' tokenizer.json) against transformers' run of them
 * ({@code ../shared/golden/transformers}, weights upcast to float32): the prompt ids, the 100 greedy tokens, and the
 * logits after each prompt within a bound derived from the rounding jllm applies and transformers does not.
 *
 * <p>The bound. jllm keeps BF16 and F16 weights as they are stored and, as llama.cpp's CPU backend does, rounds the
 * activation vector to the weight type before each matrix product (round to nearest: relative error at most
 * u = 2^-8 for BF16, 2^-11 for F16); transformers computes in float32 throughout. The last product, logit
 * i = sum_j W_ij x_j over the final RMSNorm output x, therefore moves by at most u * S_i, S_i = sum_j |W_ij x_j|
 * (computed here from jllm's activations). The 20 products before it (Q/K/V, output, gate/up, down in each of 5
 * layers) perturb x itself; RMSNorm takes out any change of its scale, and their remaining effect is of the same
 * order as the last product's. We allow as much again: |logit_i - transformers'| <= 2 u S_i. The KV cache is float32
 * here (the FP16 cache, jllm's default, is a rounding of its own, not the one this bound is about). Measured
 * (2026-12-03), the largest ratio |difference| / (u S_i) over the 512 logits: BF16 0.39 / 0.51 / 0.43, F16 0.65 /
 * 0.42 / 0.70 (p1 / p2 / p3); the largest differences BF16 0.036 / 0.044 / 0.042, F16 0.0063 / 0.0047 / 0.0066.
 * That the rounding is the whole difference is checked too: the same weights converted to float32 (no activation
 * rounding) give transformers' logits within float32 summation error (measured 1e-5).
 */
class HfTransformersGoldenTest {

    @TempDir
    static Path dir;

    private static final Map<String, Model> MODELS = new HashMap<>();

    @AfterAll
    static void close() {
        MODELS.values().forEach(Model::close);
    }

    private static synchronized Model model(String type) {
        return MODELS.computeIfAbsent(type,
                t -> Model.load(SharedData.model("hf-transformers/stories260K-" + t), null));
    }

    private static List<JsonNode> runs(String type) {
        JsonNode golden = SharedData.json(SharedData.golden("transformers/stories260K-" + type + ".json"));
        List<JsonNode> runs = new ArrayList<>();
        golden.get("runs").forEach(runs::add);
        assertEquals(3, runs.size());
        return runs;
    }

    @ParameterizedTest
    @CsvSource({"bf16, 0", "bf16, 1", "bf16, 2", "f16, 0", "f16, 1", "f16, 2"})
    void promptIdsAndGreedyTokensAreTransformers(String type, int run) {
        JsonNode golden = runs(type).get(run);
        Model model = model(type);
        String prompt = golden.get("prompt").asText();
        int[] expected = SharedData.ints(golden.get("generated_ids"));
        assertArrayEquals(SharedData.ints(golden.get("prompt_ids")), model.tokenizer().encode(prompt, true, false));
        Generation g = Generator.generate(model, model.newSession(SessionOptions.defaults(512)), prompt,
                GenerationOptions.greedy(expected.length), null);
        assertArrayEquals(SharedData.ints(golden.get("prompt_ids")), g.promptIds());
        assertArrayEquals(expected, g.generatedIds());
    }

    @ParameterizedTest
    @CsvSource({"bf16, 0", "bf16, 1", "bf16, 2", "f16, 0", "f16, 1", "f16, 2"})
    void logitsAfterThePromptWithinTheActivationRounding(String type, int run) {
        double u = type.equals("bf16") ? Math.scalb(1.0, -8) : Math.scalb(1.0, -11);
        JsonNode golden = runs(type).get(run);
        Model model = model(type);
        int[] prompt = SharedData.ints(golden.get("prompt_ids"));
        double[] s = new double[model.config().vocabSize()];
        float[] logits = logitsAndTermSums(model, prompt, s);
        JsonNode expected = golden.get("logits_after_prompt");
        double worst = 0;
        for (int i = 0; i < logits.length; i++) {
            double difference = Math.abs(logits[i] - expected.get(i).asDouble());
            worst = Math.max(worst, difference / (u * s[i]));
            assertTrue(difference <= 2 * u * s[i], "logit " + i + ": " + logits[i] + ", transformers "
                    + expected.get(i).asDouble() + ", bound 2 u S_i = " + 2 * u * s[i]);
        }
        System.out.printf("%s run %d: largest |difference| / (u S_i) %.3f%n", type, run, worst);
    }

    /**
     * The same weights upcast to float32 (converted by jllm; F32 weights take float32 activations, unrounded) compute
     * what transformers computed: the difference is the order of float32 sums only. Recursive summation of n terms
     * errs by at most gamma_n = n 2^-24 / (1 - n 2^-24) of the sum of their magnitudes; the last product has n = 64,
     * the longest before it 172. The bound, in the same form as above: 2 gamma_172 S_i (about 6e-4 here).
     */
    @ParameterizedTest
    @CsvSource({"bf16", "f16"})
    void upcastToFloat32TheLogitsAreTransformersWithinFloatSummation(String type) throws IOException {
        Path f32 = dir.resolve(type + "-f32.gguf");
        try (ModelFile source = ModelLoaders.open(SharedData.model("hf-transformers/stories260K-" + type))) {
            ModelConverter.convert(source, f32, ModelConverter.Target.GGUF, GgmlType.F32, null);
        }
        double gamma = 172 * Math.scalb(1.0, -24) / (1 - 172 * Math.scalb(1.0, -24));
        try (Model model = Model.load(f32, null)) {
            for (JsonNode golden : runs(type)) {
                double[] s = new double[model.config().vocabSize()];
                float[] logits = logitsAndTermSums(model, SharedData.ints(golden.get("prompt_ids")), s);
                JsonNode expected = golden.get("logits_after_prompt");
                for (int i = 0; i < logits.length; i++) {
                    assertEquals(expected.get(i).asDouble(), logits[i], 2 * gamma * s[i], "logit " + i);
                }
            }
        }
    }

    /**
     * The logits after {@code prompt} (float32 KV cache), and into {@code termSums} S_i = sum_j |W_ij x_j| of the
     * output product: x is the final RMSNorm of the last layer's residual stream (its input plus the attention and
     * feed-forward outputs, as observed), each value as jllm computed it.
     */
    private static float[] logitsAndTermSums(Model model, int[] prompt, double[] termSums) {
        int layers = model.config().layers();
        int dim = model.config().dim();
        Map<String, float[]> last = new HashMap<>();
        model.setActivationObserver((layer, name, data, batch, width) -> {
            if (layer == layers - 1) {
                last.put(name, Arrays.copyOfRange(data, (batch - 1) * width, batch * width));
            }
        });
        float[] logits;
        try {
            logits = model.newSession(SessionOptions.defaults(512).withCacheType(KvCache.Type.F32)).append(prompt);
        } finally {
            model.setActivationObserver(null);
        }
        double[] h = new double[dim];
        double squares = 0;
        for (int j = 0; j < dim; j++) {
            h[j] = (double) last.get("x")[j] + last.get("attn_out")[j] + last.get("ffn_out")[j];
            squares += h[j] * h[j];
        }
        double scale = 1 / Math.sqrt(squares / dim + model.config().rmsEps());
        float[] norm = model.file().tensor("output_norm.weight").toFloatArray();
        Tensor output = model.file().tensorOrNull("output.weight");
        float[] w = (output != null ? output : model.file().tensor("token_embd.weight")).toFloatArray();
        for (int i = 0; i < termSums.length; i++) {
            double sum = 0;
            for (int j = 0; j < dim; j++) {
                sum += Math.abs(w[i * dim + j] * h[j] * scale * norm[j]);
            }
            termSums[i] = sum;
        }
        return logits;
    }
}
