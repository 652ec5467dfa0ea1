package dev.jllm.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.flatbin.FlatBinWriter;
import dev.jllm.format.gguf.GgufValueType;
import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.format.safetensors.HfModelLoader;
import dev.jllm.format.safetensors.SafetensorsFile;
import dev.jllm.format.safetensors.SafetensorsWriter;
import dev.jllm.io.OutputFiles;
import dev.jllm.model.LlamaConfig;
import dev.jllm.model.Weights;
import dev.jllm.quant.QuantMix;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.HfTokenizerJsonWriter;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Converts a loaded {@link ModelFile} to another format: GGUF (any type with a quantizer), the flat FP16 binary, a
 * Hugging Face directory (F32/F16/BF16 safetensors, Q and K permuted back for rotate-half, config.json,
 * tokenizer.json) or a llama2.c version 1 checkpoint (fp32). Output goes to a temporary name in the target directory
 * and is renamed into place only when complete ({@link OutputFiles}).
 */
public final class ModelConverter {

    /** Output formats. */
    public enum Target { GGUF, FLATBIN, HF, LLAMA2C }

    /** Told how far the conversion has come, in bytes of tensor data. */
    @FunctionalInterface
    public interface Progress {
        void update(long done, long total);
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    static final int LLAMA2C_MAGIC = 0x616b3432;

    private ModelConverter() {
    }

    /** The tensors the forward pass uses, in the canonical order, with a shared classifier left out. */
    static List<Tensor> modelTensors(ModelFile source) {
        LlamaConfig c = source.config();
        List<Tensor> list = new ArrayList<>();
        list.add(source.tensor("token_embd.weight"));
        if (source.tensorOrNull("rope_freqs.weight") != null) {
            list.add(source.tensor("rope_freqs.weight"));
        }
        String[] names = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
            "ffn_down"};
        for (int l = 0; l < c.layers(); l++) {
            for (String n : names) {
                list.add(source.tensor("blk." + l + "." + n + ".weight"));
            }
        }
        list.add(source.tensor("output_norm.weight"));
        if (source.tensorOrNull("output.weight") != null) {
            list.add(source.tensor("output.weight"));
        }
        return list;
    }

    /** Converts {@code source} to {@code out}; {@code type} null keeps each tensor's type where the target allows. */
    public static void convert(ModelFile source, Path out, Target target, GgmlType type, Progress progress)
            throws IOException {
        convertWithMix(source, out, target, type == null ? null : new QuantMix.Uniform(type), progress);
    }

    /**
     * Converts {@code source} to {@code out} with the tensor types {@code mix} gives ({@code null} keeps each tensor's
     * type where the target allows); a mixture such as Q4_K_M goes to GGUF only.
     */
    public static void convertWithMix(ModelFile source, Path out, Target target, QuantMix mix, Progress progress)
            throws IOException {
        new Weights(source); // checks every tensor against the config before anything is written
        switch (target) {
            case GGUF -> writeGguf(source, out, mix, progress);
            case FLATBIN -> {
                GgmlType type = uniformType(source, mix, target);
                if (type != null && type != GgmlType.F16) {
                    throw new ModelFormatException("flat binary files are FP16 only (asked for " + name(type) + ")");
                }
                FlatBinWriter.write(source, out, progress == null ? null : progress::update);
            }
            case HF -> writeHf(source, out, uniformType(source, mix, target), progress, HF_SHARD_BYTES);
            case LLAMA2C -> writeLlama2c(source, out, uniformType(source, mix, target), progress);
        }
    }

    /** The one type of {@code mix} (null for none); a mixture of types has no place outside GGUF. */
    private static GgmlType uniformType(ModelFile source, QuantMix mix, Target target) {
        if (mix == null) {
            return null;
        }
        if (mix instanceof QuantMix.Uniform uniform) {
            return uniform.type();
        }
        throw new ModelFormatException(source.path() + ": cannot write " + mix.name() + " as "
                + target.name().toLowerCase(Locale.ROOT) + " (a mixture of block types is for GGUF only)");
    }

    /**
     * The matrices (2-D tensors) that a conversion to {@code target} with {@code mix} writes in another type than the
     * mix wants for them, with why: only GGUF output keeps a matrix whose rows do not fit the type's blocks (in F32,
     * or in llama-quantize's fallback types for the K-quants).
     */
    public static List<TypeFallback> fallbacks(ModelFile source, Target target, QuantMix mix) {
        List<TypeFallback> out = new ArrayList<>();
        if (mix == null || target != Target.GGUF) {
            return out;
        }
        int layers = source.config().layers();
        boolean hasOutput = source.tensorOrNull("output.weight") != null;
        for (Tensor t : modelTensors(source)) {
            if (t.shape().length < 2) {
                continue;
            }
            GgmlType wanted = mix.wanted(t.name(), t.shape(), layers, hasOutput);
            GgmlType used = mix.typeFor(t.name(), t.shape(), layers, hasOutput);
            if (used != wanted) {
                out.add(new TypeFallback(t.name(), t.rowLength(), wanted, used));
            }
        }
        return out;
    }

    /** How many matrices (2-D tensors) a conversion writes. */
    public static int matrixCount(ModelFile source) {
        return (int) modelTensors(source).stream().filter(t -> t.shape().length >= 2).count();
    }

    static String name(GgmlType type) {
        return type.name().toLowerCase(Locale.ROOT);
    }

    // ---- GGUF ----

    static void writeGguf(ModelFile source, Path out, QuantMix mix, Progress progress) throws IOException {
        LlamaConfig c = source.config();
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        Object name = source.metadata().get("general.name");
        w.putString("general.name", name instanceof String s ? s : String.valueOf(source.path().getFileName()));
        if (mix != null) {
            w.putUInt32("general.file_type", mix.fileType());
            if (mix.quantized()) {
                w.putUInt32("general.quantization_version", 2);
            }
        }
        w.putUInt32("llama.context_length", c.contextLength());
        w.putUInt32("llama.embedding_length", c.dim());
        w.putUInt32("llama.block_count", c.layers());
        w.putUInt32("llama.feed_forward_length", c.hiddenDim());
        w.putUInt32("llama.attention.head_count", c.heads());
        w.putUInt32("llama.attention.head_count_kv", c.kvHeads());
        if (c.headDim() * c.heads() != c.dim()) {
            w.putUInt32("llama.attention.key_length", c.headDim());
            w.putUInt32("llama.attention.value_length", c.headDim());
        }
        w.putUInt32("llama.rope.dimension_count", c.ropeDim());
        w.putFloat32("llama.rope.freq_base", c.ropeTheta());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", c.rmsEps());
        w.putUInt32("llama.vocab_size", c.vocabSize());
        TokenizerSpec t = source.tokenizer();
        if (t != null) {
            putTokenizer(w, t);
        }
        List<Tensor> tensors = modelTensors(source);
        boolean hasOutput = source.tensorOrNull("output.weight") != null;
        long total = 0;
        for (Tensor tensor : tensors) {
            total += TensorRows.bytes(tensor, typeFor(tensor, mix, c.layers(), hasOutput));
        }
        long[] done = {0};
        long all = total;
        for (Tensor tensor : tensors) {
            GgmlType tt = typeFor(tensor, mix, c.layers(), hasOutput);
            w.addTensor(tensor.name(), tt, tensor.shape(), sink -> TensorRows.write(tensor, tt, null, (b, off, len) -> {
                sink.write(ByteBuffer.wrap(b, off, len));
                done[0] += len;
                if (progress != null) {
                    progress.update(done[0], all);
                }
            }));
        }
        if (c.ropeScaling() != null && source.tensorOrNull("rope_freqs.weight") == null) {
            float[] factors = Weights.llama3FreqFactors(c);
            ByteBuffer bytes = ByteBuffer.allocate(factors.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : factors) {
                bytes.putFloat(f);
            }
            w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {factors.length},
                    sink -> sink.write(bytes.flip()));
        }
        w.write(out, null);
    }

    /** The type a tensor is written in: its own ({@code mix} null, where GGUF allows), or what the mix gives. */
    private static GgmlType typeFor(Tensor tensor, QuantMix mix, int layers, boolean hasOutput) {
        return mix == null ? TensorRows.typeFor(tensor, null) : mix.typeFor(tensor.name(), tensor.shape(), layers,
                hasOutput);
    }

    static void putTokenizer(GgufWriter w, TokenizerSpec t) {
        w.putString("tokenizer.ggml.model", t.model());
        if (t.pre() != null) {
            w.putString("tokenizer.ggml.pre", t.pre());
        }
        w.putArray("tokenizer.ggml.tokens", GgufValueType.STRING, t.tokens());
        float[] scores = t.scores();
        if (scores == null && t.model().equals("llama") && t.merges() != null) {
            scores = scoresFromMerges(t);
        }
        if (scores != null) {
            w.putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, scores);
        }
        if (t.tokenTypes() != null) {
            w.putArray("tokenizer.ggml.token_type", GgufValueType.INT32, t.tokenTypes());
        }
        if (t.merges() != null) {
            w.putArray("tokenizer.ggml.merges", GgufValueType.STRING, t.merges().toArray(String[]::new));
        }
        if (t.bosId() >= 0) {
            w.putUInt32("tokenizer.ggml.bos_token_id", t.bosId());
        }
        if (t.eosId() >= 0) {
            w.putUInt32("tokenizer.ggml.eos_token_id", t.eosId());
        }
        if (t.unkId() >= 0) {
            w.putUInt32("tokenizer.ggml.unknown_token_id", t.unkId());
        }
        if (t.padId() >= 0) {
            w.putUInt32("tokenizer.ggml.padding_token_id", t.padId());
        }
        w.putBool("tokenizer.ggml.add_bos_token", t.addBos());
        w.putBool("tokenizer.ggml.add_eos_token", t.addEos());
        if (t.model().equals("llama")) {
            w.putBool("tokenizer.ggml.add_space_prefix", t.addSpacePrefix());
        }
        if (t.chatTemplate() != null) {
            w.putString("tokenizer.chat_template", t.chatTemplate());
        }
    }

    /**
     * SentencePiece scores for a vocabulary that only has BPE merges (a Hugging Face tokenizer.json): llama.cpp merges
     * SentencePiece pieces by score, so each piece gets minus the rank of the first merge that makes it; pieces no
     * merge makes rank below all.
     */
    public static float[] scoresFromMerges(TokenizerSpec t) {
        java.util.Map<String, Integer> ids = new java.util.HashMap<>();
        for (int id = 0; id < t.tokens().length; id++) {
            ids.putIfAbsent(t.tokens()[id], id);
        }
        float[] scores = new float[t.tokens().length];
        boolean[] set = new boolean[scores.length];
        int rank = 0;
        for (String merge : t.merges()) {
            Integer id = ids.get(merge.replace(" ", ""));
            if (id != null && !set[id]) {
                scores[id] = -rank;
                set[id] = true;
            }
            rank++;
        }
        for (int id = 0; id < scores.length; id++) {
            if (!set[id]) {
                boolean single = t.tokens()[id].codePointCount(0, t.tokens()[id].length()) <= 1;
                scores[id] = single ? 0f : -(rank + 1f);
            }
        }
        return scores;
    }

    // ---- Hugging Face directory ----

    /** Shard size of Hugging Face output, as {@code save_pretrained}'s default "5GB". */
    static final long HF_SHARD_BYTES = 5_000_000_000L;

    /**
     * Writes a Hugging Face directory; tensors go to {@code model.safetensors}, or when they add up to more than
     * {@code shardBytes}, to {@code model-0000N-of-0000M.safetensors} shards with a {@code model.safetensors.index.json}.
     */
    static void writeHf(ModelFile source, Path out, GgmlType type, Progress progress, long shardBytes)
            throws IOException {
        LlamaConfig c = source.config();
        String cannot = source.path() + ": cannot write as a Hugging Face directory " + out + ": ";
        if (type != null && SafetensorsFile.Dtype.of(type) == null) {
            throw new ModelFormatException(cannot + "safetensors holds f32, f16 or bf16 (asked for " + name(type) + ")");
        }
        if (c.ropeDim() != c.headDim()) {
            throw new ModelFormatException(cannot + "partial RoPE (" + c.ropeDim() + " of " + c.headDim()
                    + " dimensions) has no place in a Llama config.json");
        }
        LlamaConfig.RopeScaling scaling = c.ropeScaling();
        Tensor freqs = source.tensorOrNull("rope_freqs.weight");
        if (freqs != null && scaling == null) {
            scaling = matchLlama3Scaling(c, freqs.toFloatArray());
            if (scaling == null) {
                throw new ModelFormatException(cannot + "rope_freqs.weight matches no llama3 rope_scaling");
            }
        }
        LlamaConfig.RopeScaling ropeScaling = scaling;
        OutputFiles.writeDirectory(out, OutputFiles.Links.FOLLOW, temp -> {
            List<SafetensorsWriter> shards = new ArrayList<>();
            shards.add(new SafetensorsWriter().metadata("format", "pt"));
            long total = 0;
            List<Tensor> tensors = new ArrayList<>(modelTensors(source));
            tensors.removeIf(t -> t.name().equals("rope_freqs.weight"));
            for (Tensor t : tensors) {
                GgmlType tt = hfType(t, type);
                total += TensorRows.bytes(t, tt);
            }
            long all = total;
            long[] done = {0};
            for (Tensor t : tensors) {
                GgmlType tt = hfType(t, type);
                long[] shape = new long[t.shape().length];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = t.shape()[shape.length - 1 - i];
                }
                int[] order = null;
                if (t.name().endsWith(".attn_q.weight") || t.name().endsWith(".attn_k.weight")) {
                    int heads = t.name().endsWith(".attn_q.weight") ? c.heads() : c.kvHeads();
                    order = HfModelLoader.rotateHalfRowOrder(heads, c.headDim());
                    order = HfModelLoader.inverse(order);
                }
                int[] rowOrder = order;
                SafetensorsWriter st = shards.getLast();
                if (st.dataBytes() > 0 && st.dataBytes() + TensorRows.bytes(t, tt) > shardBytes) {
                    st = new SafetensorsWriter().metadata("format", "pt");
                    shards.add(st);
                }
                st.add(HfModelLoader.hfName(t.name()), SafetensorsFile.Dtype.of(tt), shape,
                        stream -> TensorRows.write(t, tt, rowOrder, (b, off, len) -> {
                            stream.write(b, off, len);
                            done[0] += len;
                            if (progress != null) {
                                progress.update(done[0], all);
                            }
                        }));
            }
            if (shards.size() == 1) {
                shards.getFirst().write(temp, HfModelLoader.SINGLE);
            } else {
                ObjectNode index = JSON.createObjectNode();
                index.putObject("metadata").put("total_size", total);
                ObjectNode map = index.putObject("weight_map");
                for (int i = 0; i < shards.size(); i++) {
                    String file = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                    shards.get(i).write(temp, file);
                    for (String name : shards.get(i).names()) {
                        map.put(name, file);
                    }
                }
                writeText(temp, HfModelLoader.INDEX, JSON.writeValueAsString(index));
            }
            writeText(temp, HfModelLoader.CONFIG, configJson(c, ropeScaling,
                    source.tensorOrNull("output.weight") == null, hfType(source.tensor("token_embd.weight"), type)));
            if (source.tokenizer() != null) {
                HfTokenizerJsonWriter.write(source.tokenizer(), temp);
            }
            return null;
        });
    }

    private static void writeText(Path dir, String name, String text) throws IOException {
        try (OutputStream out = OutputFiles.createNew(dir, name)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static GgmlType hfType(Tensor t, GgmlType wanted) {
        if (wanted != null) {
            return wanted;
        }
        return t.type() == GgmlType.F16 || t.type() == GgmlType.BF16 ? (GgmlType) t.type() : GgmlType.F32;
    }

    /** F32 Hugging Face output in shards of at most {@code shardBytes} (for tests of the sharded layout). */
    public static void writeShardedHfForTests(ModelFile source, Path out, long shardBytes) throws IOException {
        writeHf(source, out, null, null, shardBytes);
    }

    /** The standard Llama 3.x scalings whose factors equal {@code factors}, or null. */
    static LlamaConfig.RopeScaling matchLlama3Scaling(LlamaConfig c, float[] factors) {
        float[][] candidates = {{8, 1, 4, 8192}, {32, 1, 4, 8192}, {16, 1, 4, 8192}, {4, 1, 4, 8192}};
        for (float[] k : candidates) {
            var s = new LlamaConfig.RopeScaling(k[0], k[1], k[2], (int) k[3]);
            float[] f = Weights.llama3FreqFactors(new LlamaConfig(c.dim(), c.layers(), c.heads(), c.kvHeads(),
                    c.hiddenDim(), c.vocabSize(), c.contextLength(), c.headDim(), c.ropeDim(), c.ropeTheta(), c.rmsEps(),
                    s));
            boolean same = f.length == factors.length;
            for (int i = 0; same && i < f.length; i++) {
                same = Math.abs(f[i] - factors[i]) <= 1e-6f * Math.max(1f, Math.abs(factors[i]));
            }
            if (same) {
                return s;
            }
        }
        return null;
    }

    static String configJson(LlamaConfig c, LlamaConfig.RopeScaling scaling, boolean tied, GgmlType dtype)
            throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("architectures").add("LlamaForCausalLM");
        n.put("model_type", "llama");
        n.put("hidden_size", c.dim());
        n.put("num_hidden_layers", c.layers());
        n.put("num_attention_heads", c.heads());
        n.put("num_key_value_heads", c.kvHeads());
        n.put("head_dim", c.headDim());
        n.put("intermediate_size", c.hiddenDim());
        n.put("vocab_size", c.vocabSize());
        n.put("max_position_embeddings", c.contextLength());
        n.put("rms_norm_eps", c.rmsEps());
        n.put("rope_theta", c.ropeTheta());
        if (scaling != null) {
            ObjectNode s = n.putObject("rope_scaling");
            s.put("rope_type", "llama3");
            s.put("factor", scaling.factor());
            s.put("low_freq_factor", scaling.lowFreqFactor());
            s.put("high_freq_factor", scaling.highFreqFactor());
            s.put("original_max_position_embeddings", scaling.originalContextLength());
        } else {
            n.putNull("rope_scaling");
        }
        n.put("tie_word_embeddings", tied);
        n.put("hidden_act", "silu");
        n.put("attention_bias", false);
        n.put("mlp_bias", false);
        n.put("torch_dtype", switch (dtype) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        });
        return JSON.writeValueAsString(n);
    }

    // ---- llama2.c version 1 ----

    static void writeLlama2c(ModelFile source, Path out, GgmlType type, Progress progress) throws IOException {
        LlamaConfig c = source.config();
        String cannot = source.path() + ": cannot write as llama2.c " + out + ": ";
        if (type != null && type != GgmlType.F32) {
            throw new ModelFormatException(cannot + "llama2.c version 1 is fp32 only (asked for " + name(type) + ")");
        }
        if (c.ropeScaling() != null || source.tensorOrNull("rope_freqs.weight") != null) {
            throw new ModelFormatException(cannot + "the format has no place for RoPE frequency scaling");
        }
        if (c.ropeTheta() != 10000f || c.rmsEps() != 1e-5f) {
            throw new ModelFormatException(cannot + "llama2.c fixes rope_theta 10000 and rms_norm_eps 1e-5; the model"
                    + " has " + c.ropeTheta() + " and " + c.rmsEps());
        }
        if (c.headDim() * c.heads() != c.dim() || c.ropeDim() != c.headDim()) {
            throw new ModelFormatException(cannot + "llama2.c needs head_dim = dim / heads and full RoPE");
        }
        boolean shared = source.tensorOrNull("output.weight") == null;
        List<Tensor> order = new ArrayList<>();
        for (String n : new String[] {"attn_norm", "ffn_norm"}) {
            for (int l = 0; l < c.layers(); l++) {
                order.add(source.tensor("blk." + l + "." + n + ".weight"));
            }
        }
        order.add(source.tensor("output_norm.weight"));
        order.add(source.tensor("token_embd.weight"));
        for (String n : new String[] {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"}) {
            for (int l = 0; l < c.layers(); l++) {
                order.add(source.tensor("blk." + l + "." + n + ".weight"));
            }
        }
        if (!shared) {
            order.add(source.tensor("output.weight"));
        }
        long total = order.stream().mapToLong(t -> t.elementCount() * 4).sum();
        OutputFiles.writeStream(out, OutputFiles.Links.FOLLOW, raw -> {
            OutputStream stream = new BufferedOutputStream(raw, 1 << 20);
            ByteBuffer header = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
            header.putInt(LLAMA2C_MAGIC).putInt(1);
            header.putInt(c.dim()).putInt(c.hiddenDim()).putInt(c.layers()).putInt(c.heads()).putInt(c.kvHeads())
                    .putInt(c.vocabSize()).putInt(c.contextLength());
            header.put((byte) (shared ? 1 : 0));
            stream.write(header.array());
            long[] done = {0};
            for (Tensor t : order) {
                TensorRows.write(t, GgmlType.F32, null, (b, off, len) -> {
                    stream.write(b, off, len);
                    done[0] += len;
                    if (progress != null) {
                        progress.update(done[0], total);
                    }
                });
            }
            stream.flush();
        });
    }
}
