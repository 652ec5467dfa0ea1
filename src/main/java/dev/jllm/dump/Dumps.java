package dev.jllm.dump;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.engine.Model;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.safetensors.HfModelLoader;
import dev.jllm.io.OutputFiles;
import dev.jllm.io.SafeNames;
import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Weight and activation dumps for checking jllm's math with one's own code. Each writes a directory that appears only
 * when complete (built under a temporary name beside it, {@link OutputFiles}). File names made from tensor names go
 * through {@link SafeNames}: a name read from a model file never becomes a path outside that directory.
 *
 * <p>Conventions. A Hugging Face model is dumped in Hugging Face's terms: tensors under their HF names, in HF's row
 * order (Q and K as stored, for rotate-half RoPE), and q/k activations in the rotate-half order that goes with them.
 * Any other model is dumped under GGUF names, with Q/K in the interleaved-pair order of GGUF/Meta weights. Either way
 * {@code q = rope(xnorm · Wqᵀ)}, with the RoPE of that convention ({@code qk_layout} in {@code meta_layerN.json}).
 * Shapes are row-major ({@code [rows, values per row]}, as PyTorch/NumPy print them).
 */
public final class Dumps {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Dumps() {
    }

    static boolean isHf(ModelFile file) {
        return file.format().startsWith("Hugging Face");
    }

    /** Writes every tensor whose dump name matches {@code filter} (a find, null for all); returns how many. */
    public static int weights(ModelFile file, Path out, Pattern filter, ArrayFile format) throws IOException {
        boolean hf = isHf(file);
        List<Tensor> selected = new ArrayList<>();
        for (Tensor t : file.tensors().values()) {
            String name = dumpName(t, hf);
            if (filter == null || filter.matcher(name).find()) {
                selected.add(t);
            }
        }
        if (selected.isEmpty()) {
            throw new ModelFormatException(file.path() + ": no tensor matches --filter " + filter);
        }
        Map<String, String> files = new HashMap<>();
        for (Tensor t : selected) {
            String name = dumpName(t, hf);
            String previous = files.put(SafeNames.fileName(name), name);
            if (previous != null) {
                throw new ModelFormatException(file.path() + ": tensors '" + previous + "' and '" + name
                        + "' would be dumped to the same file");
            }
        }
        return inTempDir(out, dir -> {
            for (Tensor t : selected) {
                String name = dumpName(t, hf);
                String fileName = SafeNames.fileName(name); // a tensor name is the file's, not a path
                // As stored: for a Hugging Face Q/K that is HF's row order (the view without the loader's row order).
                Tensor stored = hf ? new Tensor(t.name(), t.type(), t.shape(), t.data()) : t;
                long[] shape = t.shape().length == 1 ? new long[] {t.shape()[0]}
                        : new long[] {t.rowCount(), t.shape()[0]};
                format.write(dir, fileName, shape, (r, row) -> stored.dequantizeRow(r, row, 0));
                ObjectNode meta = JSON.createObjectNode();
                meta.put("name", name);
                meta.put("gguf_name", t.name());
                ArrayNode s = meta.putArray("shape");
                for (long d : shape) {
                    s.add(d);
                }
                meta.put("dtype", "float32");
                meta.put("stored_type", t.type().name());
                meta.put("file", fileName + "." + format.extension);
                writeJson(dir, fileName + ".json", meta);
            }
            return selected.size();
        });
    }

    private static void writeJson(Path dir, String fileName, ObjectNode json) throws IOException {
        try (OutputStream stream = OutputFiles.createNew(dir, fileName)) {
            JSON.writeValue(stream, json);
        }
    }

    private static String dumpName(Tensor t, boolean hf) {
        if (hf) {
            String name = HfModelLoader.hfName(t.name());
            return name != null ? name : t.name();
        }
        return t.name();
    }

    /**
     * Runs {@code tokens} as one batch and writes, for every layer N: {@code x_layerN}, {@code xnorm_layerN},
     * {@code q_layerN}, {@code k_layerN} (after RoPE), {@code v_layerN}, {@code attn_layerN} (before the output
     * projection), {@code attn_out_layerN}, {@code ffn_out_layerN}, each {@code [tokens, width]}; {@code meta_layerN.json};
     * {@code input_ids}, {@code position_ids}, {@code attention_mask} (1 where a token attends, causal) and
     * {@code logits}.
     */
    public static void activations(Model model, int[] tokens, Path out, ArrayFile format) throws IOException {
        LlamaConfig c = model.config();
        if (tokens.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens");
        }
        if (tokens.length > c.contextLength()) {
            throw new IllegalArgumentException("the prompt has " + tokens.length + " tokens, more than the model's"
                    + " context of " + c.contextLength());
        }
        boolean hf = isHf(model.file());
        inTempDir(out, dir -> {
            IOException[] failure = {null};
            model.setActivationObserver((layer, name, data, batch, width) -> {
                if (failure[0] != null) {
                    return;
                }
                float[] copy = java.util.Arrays.copyOf(data, batch * width);
                if (hf && (name.equals("q") || name.equals("k"))) {
                    copy = toRotateHalf(copy, batch, width, c.headDim());
                }
                float[] values = copy;
                try {
                    format.write(dir, name + "_layer" + layer, new long[] {batch, width},
                            (r, row) -> System.arraycopy(values, (int) r * width, row, 0, width));
                } catch (IOException e) {
                    failure[0] = e;
                }
            });
            float[] logits;
            try {
                KvCache cache = model.newKvCache(1, tokens.length, KvCache.Type.F32);
                logits = model.forward(Batch.ofSequence(0, tokens, 0, true), cache);
            } finally {
                model.setActivationObserver(null);
            }
            if (failure[0] != null) {
                throw failure[0];
            }
            int n = tokens.length;
            int vocab = c.vocabSize();
            format.write(dir, "logits", new long[] {n, vocab},
                    (r, row) -> System.arraycopy(logits, (int) r * vocab, row, 0, vocab));
            // integers, as transformers' input_ids and position_ids are (int64), not floats
            format.writeIntegers(dir, "input_ids", java.util.Arrays.stream(tokens).asLongStream().toArray());
            format.writeIntegers(dir, "position_ids", java.util.stream.LongStream.range(0, n).toArray());
            format.write(dir, "attention_mask", new long[] {n, n}, (r, row) -> {                for (int j = 0; j < n; j++) {
                    row[j] = j <= r ? 1f : 0f;
                }
            });
            for (int l = 0; l < c.layers(); l++) {
                ObjectNode meta = JSON.createObjectNode();
                meta.put("layer", l);
                meta.put("d_model", c.dim());
                meta.put("num_heads", c.heads());
                meta.put("num_kv_heads", c.kvHeads());
                meta.put("head_dim", c.headDim());
                meta.put("rope_dim", c.ropeDim());
                meta.put("rope_theta", c.ropeTheta());
                meta.put("rms_norm_eps", c.rmsEps());
                meta.put("seq_len", n);
                meta.put("qk_layout", hf ? "rotate_half" : "interleaved");
                meta.put("rope_scaling", c.ropeScaling() != null || model.file().tensorOrNull("rope_freqs.weight") != null);
                meta.put("format", format.extension);
                meta.put("kv_cache", "f32");
                writeJson(dir, "meta_layer" + l + ".json", meta);
            }
            return null;
        });
    }

    /** Per head, the interleaved pairs (2i, 2i+1) moved to (i, i + headDim/2): Hugging Face's rotate-half order. */
    static float[] toRotateHalf(float[] v, int batch, int width, int headDim) {
        float[] out = new float[v.length];
        int half = headDim / 2;
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < width / headDim; h++) {
                int base = b * width + h * headDim;
                for (int i = 0; i < half; i++) {
                    out[base + i] = v[base + 2 * i];
                    out[base + half + i] = v[base + 2 * i + 1];
                }
            }
        }
        return out;
    }

    @FunctionalInterface
    private interface DirWork<T> {
        T run(Path dir) throws IOException;
    }

    /**
     * Runs {@code work} in a fresh temporary directory beside {@code out}, then renames it to {@code out}
     * ({@link OutputFiles#writeDirectory}: {@code out} must be new or an empty directory).
     */
    private static <T> T inTempDir(Path out, DirWork<T> work) throws IOException {
        return OutputFiles.writeDirectory(out, OutputFiles.Links.FOLLOW, work::run);
    }
}
