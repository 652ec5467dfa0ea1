package dev.jllm.format;

import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerSpec;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every loader produces: a config, the tensors under GGUF's canonical names ({@code token_embd.weight},
 * {@code blk.N.attn_q.weight}, ..., {@code output_norm.weight}, {@code output.weight}, optional
 * {@code rope_freqs.weight}), the tokenizer description (null when the file has none) and the raw metadata.
 * Q and K weights are in the interleaved-pair RoPE order of the original Meta weights (as GGUF "llama" stores them).
 * Closing the model file unmaps its memory.
 */
public final class ModelFile implements AutoCloseable {

    private final String format;
    private final Path path;
    private final LlamaConfig config;
    private final Map<String, Tensor> tensors;
    private final TokenizerSpec tokenizer;
    private final Map<String, Object> metadata;
    private final Arena arena;

    public ModelFile(String format, Path path, LlamaConfig config, Map<String, Tensor> tensors, TokenizerSpec tokenizer,
            Map<String, Object> metadata, Arena arena) {
        this.format = format;
        this.path = path;
        this.config = config;
        this.tensors = new LinkedHashMap<>(tensors);
        this.tokenizer = tokenizer;
        this.metadata = new LinkedHashMap<>(metadata);
        this.arena = arena;
    }

    /** A short human name of the format, e.g. {@code GGUF v3}, {@code llama2.c legacy}. */
    public String format() {
        return format;
    }

    public Path path() {
        return path;
    }

    public LlamaConfig config() {
        return config;
    }

    /** Tensors in file order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(path + ": missing tensor '" + name + "'");
        }
        return t;
    }

    public Tensor tensorOrNull(String name) {
        return tensors.get(name);
    }

    public TokenizerSpec tokenizer() {
        return tokenizer;
    }

    /** Format-specific key/value metadata (GGUF metadata as read; llama2.c header fields), in file order. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
        }
    }
}
