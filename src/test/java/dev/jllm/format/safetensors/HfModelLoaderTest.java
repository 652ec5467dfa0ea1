package dev.jllm.format.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.convert.ModelConverter;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hugging Face directories give the same logits as the GGUF they came from: one written by jllm's converter, and one
 * assembled here by hand (two shards and an index, Q and K permuted with the formula of Hugging Face's
 * {@code convert_llama_weights_to_hf.py}, JSON headers written as text). Bad directories fail in one line.
 */
class HfModelLoaderTest {

    static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421};

    @TempDir
    Path dir;

    static float[] logits(Path model) {
        try (Model m = Model.load(model, null)) {
            Session s = m.newSession(new SessionOptions(64, SessionOptions.Prefill.BATCH, true));
            return s.appendAll(PROMPT);
        }
    }

    static void assertClose(float[] expected, float[] actual, double relative) {
        assertEquals(expected.length, actual.length);
        double maxAbs = 0;
        double maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(maxDiff <= relative * maxAbs, "max difference " + maxDiff + " of max " + maxAbs);
    }

    @Test
    void convertedDirectoryGivesTheLogitsOfTheGguf() throws IOException {
        Path gguf = SharedData.model("stories260K-f32.gguf");
        Path hf = dir.resolve("hf");
        try (ModelFile f = ModelLoaders.open(gguf)) {
            ModelConverter.convert(f, hf, ModelConverter.Target.HF, null, null);
        }
        assertTrue(Files.isRegularFile(hf.resolve("tokenizer.json")));
        float[] expected = logits(gguf);
        assertClose(expected, logits(hf), 1e-5);
        assertClose(expected, logits(hf.resolve("config.json")), 1e-5);
        try (Model a = Model.load(gguf, null); Model b = Model.load(hf, null)) {
            String text = "Once upon a time, there was a little girl named Lily.";
            assertEquals(List.of(boxed(a.tokenizer().encode(text, true, false))),
                    List.of(boxed(b.tokenizer().encode(text, true, false))));
        }
    }

    private static Integer[] boxed(int[] v) {
        return java.util.Arrays.stream(v).boxed().toArray(Integer[]::new);
    }

    /** Hugging Face's tensor names, written out here rather than taken from the loader. */
    static String hfName(String gguf) {
        if (gguf.equals("token_embd.weight")) {
            return "model.embed_tokens.weight";
        }
        if (gguf.equals("output_norm.weight")) {
            return "model.norm.weight";
        }
        if (gguf.equals("output.weight")) {
            return "lm_head.weight";
        }
        String[] parts = gguf.split("\\.");
        String layer = "model.layers." + parts[1] + ".";
        return layer + switch (parts[2]) {
            case "attn_norm" -> "input_layernorm";
            case "attn_q" -> "self_attn.q_proj";
            case "attn_k" -> "self_attn.k_proj";
            case "attn_v" -> "self_attn.v_proj";
            case "attn_output" -> "self_attn.o_proj";
            case "ffn_norm" -> "post_attention_layernorm";
            case "ffn_gate" -> "mlp.gate_proj";
            case "ffn_up" -> "mlp.up_proj";
            case "ffn_down" -> "mlp.down_proj";
            default -> throw new IllegalArgumentException(gguf);
        } + ".weight";
    }

    /**
     * The Hugging Face layout of a Meta/GGUF Q or K matrix: {@code w.view(heads, rows/heads/2, 2, cols)
     * .transpose(1, 2).reshape(rows, cols)}, so HF row (h, a, b) is Meta row (h, b, a).
     */
    static float[] permuteForHf(float[] w, int heads, int rows, int cols) {
        int half = rows / heads / 2;
        float[] out = new float[w.length];
        for (int h = 0; h < heads; h++) {
            for (int a = 0; a < 2; a++) {
                for (int b = 0; b < half; b++) {
                    int hfRow = (h * 2 + a) * half + b;
                    int metaRow = (h * half + b) * 2 + a;
                    System.arraycopy(w, metaRow * cols, out, hfRow * cols, cols);
                }
            }
        }
        return out;
    }

    /** Writes a safetensors file of F32 tensors with a header assembled as text. */
    static void writeShard(Path file, Map<String, long[]> shapes, Map<String, float[]> values) throws IOException {
        StringBuilder header = new StringBuilder("{");
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (String name : shapes.keySet()) {
            float[] v = values.get(name);
            long begin = data.size();
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : v) {
                b.putFloat(x);
            }
            data.writeBytes(b.array());
            long[] shape = shapes.get(name);
            header.append(header.length() > 1 ? "," : "").append('"').append(name).append("\":{\"dtype\":\"F32\",\"shape\":[")
                    .append(shape[0]).append(shape.length > 1 ? "," + shape[1] : "").append("],\"data_offsets\":[")
                    .append(begin).append(',').append(data.size()).append("]}");
        }
        header.append('}');
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(length.array());
        out.writeBytes(json);
        out.writeBytes(data.toByteArray());
        Files.write(file, out.toByteArray());
    }

    /** Builds a two-shard Hugging Face directory from stories260K-f32.gguf, by hand. */
    static Path handBuilt(Path dir) throws IOException {
        Path hf = dir.resolve("hand");
        Files.createDirectories(hf);
        try (ModelFile f = ModelLoaders.open(SharedData.model("stories260K-f32.gguf"))) {
            LlamaConfig c = f.config();
            List<Map<String, long[]>> shapes = List.of(new LinkedHashMap<>(), new LinkedHashMap<>());
            List<Map<String, float[]>> values = List.of(new LinkedHashMap<>(), new LinkedHashMap<>());
            StringBuilder index = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
            int n = 0;
            for (Tensor t : f.tensors().values()) {
                float[] v = t.toFloatArray();
                long[] shape = t.shape().length == 1 ? new long[] {t.shape()[0]}
                        : new long[] {t.shape()[1], t.shape()[0]};
                if (t.name().endsWith("attn_q.weight")) {
                    v = permuteForHf(v, c.heads(), (int) shape[0], (int) shape[1]);
                } else if (t.name().endsWith("attn_k.weight")) {
                    v = permuteForHf(v, c.kvHeads(), (int) shape[0], (int) shape[1]);
                }
                int shard = t.name().startsWith("blk.0.") || t.name().startsWith("token") ? 0 : 1;
                String name = hfName(t.name());
                shapes.get(shard).put(name, shape);
                values.get(shard).put(name, v);
                index.append(n++ > 0 ? "," : "").append('"').append(name).append("\":\"model-0000").append(shard + 1)
                        .append("-of-00002.safetensors\"");
            }
            index.append("}}");
            for (int s = 0; s < 2; s++) {
                writeShard(hf.resolve("model-0000" + (s + 1) + "-of-00002.safetensors"), shapes.get(s), values.get(s));
            }
            Files.writeString(hf.resolve("model.safetensors.index.json"), index);
            Files.writeString(hf.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"],"
                    + " \"model_type\": \"llama\", \"hidden_size\": " + c.dim() + ", \"intermediate_size\": "
                    + c.hiddenDim() + ", \"num_hidden_layers\": " + c.layers() + ", \"num_attention_heads\": "
                    + c.heads() + ", \"num_key_value_heads\": " + c.kvHeads() + ", \"vocab_size\": " + c.vocabSize()
                    + ", \"max_position_embeddings\": " + c.contextLength() + ", \"rms_norm_eps\": 1e-05,"
                    + " \"rope_theta\": 10000.0, \"tie_word_embeddings\": "
                    + (f.tensorOrNull("output.weight") == null) + "}");
        }
        return hf;
    }

    @Test
    void shardedOutputLoadsBack() throws IOException {
        Path gguf = SharedData.model("stories260K-f32.gguf");
        Path hf = dir.resolve("sharded");
        try (ModelFile f = ModelLoaders.open(gguf)) {
            ModelConverter.writeShardedHfForTests(f, hf, 200_000);
        }
        assertTrue(Files.isRegularFile(hf.resolve("model.safetensors.index.json")));
        List<Path> shards;
        try (var files = Files.list(hf)) {
            shards = files.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).toList();
        }
        assertTrue(shards.size() > 1, shards.toString());
        for (Path shard : shards) {
            // at most 200 kB of data, unless one tensor alone is larger (the 512 x 64 F32 embedding is 131 kB)
            assertTrue(Files.size(shard) < 200_000 + 4096, shard + " " + Files.size(shard));
        }
        assertClose(logits(gguf), logits(hf), 1e-5);
    }

    @Test
    void handBuiltShardedDirectoryGivesTheLogitsOfTheGguf() throws IOException {
        Path hf = handBuilt(dir);
        try (ModelFile f = ModelLoaders.open(hf)) {
            assertTrue(f.format().contains("2 file"), f.format());
            assertNotNull(f.tensor("blk.1.attn_q.weight").rowOrder());
        }
        assertClose(logits(SharedData.model("stories260K-f32.gguf")), logits(hf), 1e-5);
    }

    private static void assertOneLine(Path model, String expected) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Model.load(model, null).close());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void configThatDisagreesWithTheTensors() throws IOException {
        Path hf = handBuilt(dir);
        String config = Files.readString(hf.resolve("config.json"));
        Files.writeString(hf.resolve("config.json"), config.replaceFirst("\"intermediate_size\": \\d+",
                "\"intermediate_size\": 100"));
        assertOneLine(hf, "expected [64, 100] from the model config");
        Files.writeString(hf.resolve("config.json"), config.replaceFirst("\"num_key_value_heads\": \\d+",
                "\"num_key_value_heads\": 2"));
        assertOneLine(hf, "k_proj.weight' has shape");
        Files.writeString(hf.resolve("config.json"), config.replace("\"rope_theta\"",
                "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, \"rope_theta\""));
        assertOneLine(hf, "rope_scaling of type 'linear' is not supported");
    }

    /**
     * transformers 5 writes RoPE's theta and scaling as {@code rope_parameters} (the config of
     * ../shared/models/hf-transformers, written by its save_pretrained, has {@code rope_type} "default" and
     * {@code rope_theta} 10000 there and no top-level rope_theta). A Llama 3.1 config in that form must not fall back
     * to theta 10000 without scaling.
     */
    @Test
    void transformers5RopeParameters() throws IOException {
        Path written = SharedData.model("hf-transformers/stories260K-bf16/config.json");
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode config =
                (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(written.toFile());
        assertFalse(config.has("rope_theta") || config.has("rope_scaling"), "transformers 5's layout");
        LlamaConfig plain = HfModelLoader.config(written, config);
        assertEquals(10000f, plain.ropeTheta());
        assertEquals(null, plain.ropeScaling());
        config.putObject("rope_parameters").put("rope_type", "llama3").put("rope_theta", 500000.0)
                .put("factor", 32.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0)
                .put("original_max_position_embeddings", 8192);
        LlamaConfig llama31 = HfModelLoader.config(written, config);
        assertEquals(500000f, llama31.ropeTheta());
        assertEquals(new LlamaConfig.RopeScaling(32f, 1f, 4f, 8192), llama31.ropeScaling());
        ((com.fasterxml.jackson.databind.node.ObjectNode) config.get("rope_parameters")).put("rope_type", "yarn");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> HfModelLoader.config(written, config));
        assertTrue(e.getMessage().contains("rope_scaling of type 'yarn' is not supported"), e.getMessage());
    }

    @Test
    void integerTensorsAreRefused() throws IOException {
        Path hf = dir.resolve("ints");
        Files.createDirectories(hf);
        Files.writeString(hf.resolve("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 4,"
                + " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
                + " \"vocab_size\": 3}");
        new SafetensorsWriter().add("model.embed_tokens.weight", SafetensorsFile.Dtype.I64, new long[] {3, 4},
                out -> out.write(new byte[96])).write(hf, "model.safetensors");
        assertOneLine(hf, "has dtype I64; jllm reads F32, F16 and BF16");
    }

    @Test
    void indexNamingAMissingShard() throws IOException {
        Path hf = handBuilt(dir);
        Files.delete(hf.resolve("model-00002-of-00002.safetensors"));
        assertOneLine(hf, "names shard 'model-00002-of-00002.safetensors'");
    }

    @Test
    void shardThatLiesAboutOffsets() throws IOException {
        Path hf = handBuilt(dir);
        Path shard = hf.resolve("model-00001-of-00002.safetensors");
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length - 4)); // the last tensor now runs past the end
        assertOneLine(hf, "outside the");
    }
}
