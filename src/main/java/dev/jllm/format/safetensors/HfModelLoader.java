package dev.jllm.format.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerFiles;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Loads a Hugging Face Llama directory: {@code config.json}, {@code model.safetensors} or the shards an
 * {@code model.safetensors.index.json} names, and {@code tokenizer.json} (or {@code tokenizer.model}). Every shard is
 * memory-mapped once; tensors are renamed to GGUF's canonical names and their shapes turned to ggml's order. Hugging
 * Face stores the rows of Q and K permuted for rotate-half RoPE; the loader gives those tensors a row order that
 * reads them back in the interleaved-pair order of the Meta weights, without copying them.
 */
public final class HfModelLoader {

    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    /** Made on first use: ModelLoaders asks this class about every path, and Jackson costs ~0.1 s of start-up. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "input_layernorm.weight", "attn_norm.weight",
            "self_attn.q_proj.weight", "attn_q.weight",
            "self_attn.k_proj.weight", "attn_k.weight",
            "self_attn.v_proj.weight", "attn_v.weight",
            "self_attn.o_proj.weight", "attn_output.weight",
            "post_attention_layernorm.weight", "ffn_norm.weight",
            "mlp.gate_proj.weight", "ffn_gate.weight",
            "mlp.up_proj.weight", "ffn_up.weight",
            "mlp.down_proj.weight", "ffn_down.weight");

    private HfModelLoader() {
    }

    /** Whether {@code path} is a Hugging Face model directory or its {@code config.json}. */
    public static boolean isHfModel(Path path) {
        Path dir = directoryOf(path);
        return dir != null && Files.isRegularFile(dir.resolve(CONFIG))
                && (Files.isRegularFile(dir.resolve(SINGLE)) || Files.isRegularFile(dir.resolve(INDEX)));
    }

    /** The model directory for a directory or its config.json, or null. */
    public static Path directoryOf(Path path) {
        if (Files.isDirectory(path)) {
            return path;
        }
        Path name = path.getFileName();
        if (name != null && name.toString().equals(CONFIG)) {
            return path.toAbsolutePath().getParent();
        }
        return null;
    }

    /** The GGUF canonical name of a Hugging Face Llama tensor, or null for tensors jllm does not use. */
    public static String canonicalName(String hfName) {
        switch (hfName) {
            case "model.embed_tokens.weight":
                return "token_embd.weight";
            case "model.norm.weight":
                return "output_norm.weight";
            case "lm_head.weight":
                return "output.weight";
            default:
                break;
        }
        Matcher m = LAYER.matcher(hfName);
        if (m.matches()) {
            String suffix = LAYER_NAMES.get(m.group(2));
            if (suffix != null) {
                return "blk." + m.group(1) + "." + suffix;
            }
        }
        return null;
    }

    /** The Hugging Face name of a GGUF canonical tensor name, or null if it has none. */
    public static String hfName(String canonical) {
        switch (canonical) {
            case "token_embd.weight":
                return "model.embed_tokens.weight";
            case "output_norm.weight":
                return "model.norm.weight";
            case "output.weight":
                return "lm_head.weight";
            default:
                break;
        }
        Matcher m = Pattern.compile("blk\\.(\\d+)\\.(.+)").matcher(canonical);
        if (m.matches()) {
            for (Map.Entry<String, String> e : LAYER_NAMES.entrySet()) {
                if (e.getValue().equals(m.group(2))) {
                    return "model.layers." + m.group(1) + "." + e.getKey();
                }
            }
        }
        return null;
    }

    /**
     * The row order that reads a Hugging Face (rotate-half) Q or K matrix of {@code heads} heads in the interleaved
     * order: logical row {@code h*headDim + 2i + j} is stored row {@code h*headDim + j*headDim/2 + i}. Applied to the
     * interleaved rows it gives the Hugging Face order back ({@link #inverse}).
     */
    public static int[] rotateHalfRowOrder(int heads, int headDim) {
        int[] order = new int[heads * headDim];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int j = 0; j < 2; j++) {
                    order[h * headDim + 2 * i + j] = h * headDim + j * half + i;
                }
            }
        }
        return order;
    }

    /** The inverse permutation. */
    public static int[] inverse(int[] order) {
        int[] inv = new int[order.length];
        for (int i = 0; i < order.length; i++) {
            inv[order[i]] = i;
        }
        return inv;
    }

    /** Loads the directory (or the directory of a config.json); the caller closes the file to unmap the shards. */
    public static ModelFile load(Path path) {
        Path dir = directoryOf(path);
        if (dir == null) {
            throw new ModelFormatException(path + ": expected a Hugging Face model directory or its config.json");
        }
        Path configFile = dir.resolve(CONFIG);
        JsonNode configJson = readJson(configFile);
        LlamaConfig config = config(configFile, configJson);
        boolean tied = configJson.path("tie_word_embeddings").asBoolean(false);

        Arena arena = Arena.ofShared();
        try {
            Map<String, SafetensorsFile> byTensor = shards(dir, arena);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, SafetensorsFile> e : byTensor.entrySet()) {
                String hf = e.getKey();
                SafetensorsFile shard = e.getValue();
                SafetensorsFile.Entry entry = shard.tensors().get(hf);
                if (hf.endsWith("rotary_emb.inv_freq")) {
                    continue; // recomputed from rope_theta
                }
                String name = canonicalName(hf);
                if (name == null) {
                    throw new ModelFormatException(shard.path() + ": tensor '" + hf
                            + "' is not part of a Llama model (LlamaForCausalLM)");
                }
                if (entry.dtype().ggmlType == null) {
                    throw new ModelFormatException(shard.path() + ": tensor '" + hf + "' has dtype " + entry.dtype()
                            + "; jllm reads F32, F16 and BF16 safetensors");
                }
                long[] shape = new long[entry.shape().length];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = entry.shape()[shape.length - 1 - i];
                }
                Tensor t = new Tensor(name, entry.dtype().ggmlType, shape, shard.slice(entry));
                if (name.endsWith(".attn_q.weight") || name.endsWith(".attn_k.weight")) {
                    int heads = name.endsWith(".attn_q.weight") ? config.heads() : config.kvHeads();
                    if (shape.length != 2 || t.rowCount() != (long) heads * config.headDim()) {
                        throw new ModelFormatException(shard.path() + ": tensor '" + hf + "' has shape "
                                + java.util.Arrays.toString(entry.shape()) + ", expected [" + heads * config.headDim()
                                + ", " + config.dim() + "] from " + configFile);
                    }
                    t = t.withRowOrder(rotateHalfRowOrder(heads, config.headDim()));
                }
                tensors.put(name, t);
            }
            if (!tied && !tensors.containsKey("output.weight")) {
                throw new ModelFormatException(dir + ": no lm_head.weight, and config.json does not set"
                        + " tie_word_embeddings");
            }
            TokenizerSpec tokenizer = null;
            if (Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("tokenizer.model"))) {
                tokenizer = TokenizerFiles.load(dir);
            }
            Map<String, Object> metadata = new LinkedHashMap<>();
            metadata.put("general.architecture", "llama");
            for (Iterator<Map.Entry<String, JsonNode>> it = configJson.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getValue().isValueNode()) {
                    metadata.put("hf." + f.getKey(), f.getValue().isNumber() ? f.getValue().numberValue()
                            : f.getValue().isBoolean() ? (Object) f.getValue().asBoolean() : f.getValue().asText());
                }
            }
            String format = "Hugging Face safetensors (" + byTensor.values().stream().distinct().count() + " file(s))";
            return new ModelFile(format, dir, config, tensors, tokenizer, metadata, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Tensor name -> the shard that holds it, in the order of the shard files and their headers. */
    private static Map<String, SafetensorsFile> shards(Path dir, Arena arena) {
        Path index = dir.resolve(INDEX);
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        if (!Files.isRegularFile(index)) {
            Path single = dir.resolve(SINGLE);
            if (!Files.isRegularFile(single)) {
                throw new ModelFormatException(dir + ": no " + SINGLE + " and no " + INDEX);
            }
            SafetensorsFile file = SafetensorsFile.open(single, arena);
            file.tensors().keySet().forEach(name -> byTensor.put(name, file));
            return byTensor;
        }
        JsonNode weightMap = readJson(index).path("weight_map");
        if (!weightMap.isObject() || weightMap.isEmpty()) {
            throw new ModelFormatException(index + ": no weight_map object");
        }
        Map<String, String> shardOf = new LinkedHashMap<>();
        Map<String, SafetensorsFile> files = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String shardName = e.getValue().asText("");
            if (!e.getValue().isTextual() || shardName.isEmpty() || shardName.contains("/")
                    || shardName.contains("\\") || shardName.equals("..")) {
                throw new ModelFormatException(index + ": tensor '" + e.getKey() + "' maps to " + e.getValue()
                        + " (expected a file name in the directory)");
            }
            if (!Files.isRegularFile(dir.resolve(shardName))) {
                throw new ModelFormatException(index + ": names shard '" + shardName + "' (for tensor '" + e.getKey()
                        + "'), which does not exist in " + dir);
            }
            shardOf.put(e.getKey(), shardName);
            files.put(shardName, null);
        }
        for (String name : files.keySet()) {
            files.put(name, SafetensorsFile.open(dir.resolve(name), arena));
        }
        for (SafetensorsFile file : files.values()) {
            for (String tensor : file.tensors().keySet()) {
                String claimed = shardOf.get(tensor);
                if (claimed == null) {
                    throw new ModelFormatException(file.path() + ": tensor '" + tensor + "' is not in " + index);
                }
                if (!claimed.equals(file.path().getFileName().toString())) {
                    throw new ModelFormatException(file.path() + ": tensor '" + tensor + "' is here, but " + index
                            + " puts it in '" + claimed + "'");
                }
                byTensor.put(tensor, file);
            }
        }
        for (Map.Entry<String, String> e : shardOf.entrySet()) {
            if (!byTensor.containsKey(e.getKey())) {
                throw new ModelFormatException(dir.resolve(e.getValue()) + ": has no tensor '" + e.getKey() + "', which "
                        + index + " puts there");
            }
        }
        return byTensor;
    }

    static JsonNode readJson(Path file) {
        try {
            JsonNode node = Json.MAPPER.readTree(Files.readAllBytes(file));
            if (node == null || !node.isObject()) {
                throw new ModelFormatException(file + ": not a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file + ": not valid JSON ("
                    + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ModelFormatException(file + ": no such file");
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The model config from a Hugging Face LlamaForCausalLM config.json. */
    static LlamaConfig config(Path file, JsonNode c) {
        JsonNode archs = c.path("architectures");
        String modelType = c.path("model_type").asText("");
        boolean llama = modelType.equals("llama");
        for (JsonNode a : archs) {
            llama |= a.asText().equals("LlamaForCausalLM");
        }
        if (!llama) {
            throw new ModelFormatException(file + ": model_type '" + modelType + "', architectures " + archs
                    + " (jllm reads LlamaForCausalLM)");
        }
        int dim = positive(file, c, "hidden_size", -1);
        int layers = positive(file, c, "num_hidden_layers", -1);
        int heads = positive(file, c, "num_attention_heads", -1);
        int kvHeads = positive(file, c, "num_key_value_heads", heads);
        int hidden = positive(file, c, "intermediate_size", -1);
        int vocab = positive(file, c, "vocab_size", -1);
        int context = positive(file, c, "max_position_embeddings", 2048);
        if (dim % heads != 0 && !c.hasNonNull("head_dim")) {
            throw new ModelFormatException(file + ": hidden_size " + dim + " is not a multiple of num_attention_heads "
                    + heads);
        }
        int headDim = positive(file, c, "head_dim", dim / heads);
        if (heads % kvHeads != 0 || headDim % 2 != 0) {
            throw new ModelFormatException(file + ": num_attention_heads " + heads + ", num_key_value_heads " + kvHeads
                    + ", head_dim " + headDim + " (expected heads a multiple of kv heads and an even head_dim)");
        }
        // transformers 5 writes rope_theta and the scaling together as rope_parameters (rope_type "default" is none).
        JsonNode rope = c.path("rope_parameters");
        float theta = (float) (rope.has("rope_theta") ? rope : c).path("rope_theta").asDouble(10000.0);
        float eps = (float) c.path("rms_norm_eps").asDouble(1e-6);
        LlamaConfig.RopeScaling scaling = null;
        JsonNode rs = c.path("rope_scaling");
        if (!rs.isObject() && rope.isObject() && !rope.path("rope_type").asText("default").equals("default")) {
            rs = rope;
        }
        if (rs.isObject()) {
            String type = rs.path("rope_type").asText(rs.path("type").asText(""));
            if (!type.equals("llama3")) {
                throw new ModelFormatException(file + ": rope_scaling of type '" + type
                        + "' is not supported (only llama3)");
            }
            scaling = new LlamaConfig.RopeScaling((float) rs.path("factor").asDouble(8.0),
                    (float) rs.path("low_freq_factor").asDouble(1.0), (float) rs.path("high_freq_factor").asDouble(4.0),
                    rs.path("original_max_position_embeddings").asInt(8192));
        }
        if (c.path("attention_bias").asBoolean(false) || c.path("mlp_bias").asBoolean(false)) {
            throw new ModelFormatException(file + ": attention_bias/mlp_bias are not supported");
        }
        return new LlamaConfig(dim, layers, heads, kvHeads, hidden, vocab, context, headDim, headDim, theta, eps, scaling);
    }

    private static int positive(Path file, JsonNode c, String key, int fallback) {
        JsonNode n = c.path(key);
        if (n.isMissingNode() || n.isNull()) {
            if (fallback > 0) {
                return fallback;
            }
            throw new ModelFormatException(file + ": no '" + key + "'");
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() <= 0) {
            throw new ModelFormatException(file + ": '" + key + "' is " + n + " (expected a positive integer)");
        }
        return n.asInt();
    }
}
