package dev.jllm.format.gguf;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Loads GGUF files (versions 2 and 3): the whole file is memory-mapped once into a shared arena and tensors are views
 * into it. {@link #load} builds a {@link ModelFile} for architecture {@code llama}; {@link #read} gives the raw
 * contents of any GGUF file and {@link #readTokenizer} the tokenizer of any GGUF file.
 */
public final class GgufReader {

    /** Pre-tokenizers for which llama.cpp adds BOS by default (its Llama 3 group). */
    private static final Set<String> BOS_BY_DEFAULT_PRE = Set.of("llama3", "llama-v3", "llama-bpe", "falcon3",
            "falcon-h1", "pixtral", "midm-2.0", "lfm2", "tekken", "chameleon");

    private GgufReader() {
    }

    /** Whether the file starts with the GGUF magic (false for missing or unreadable files). */
    public static boolean isGguf(Path path) {
        if (!Files.isRegularFile(path)) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer magic = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (magic.hasRemaining()) {
                if (channel.read(magic) < 0) {
                    return false;
                }
            }
            return magic.getInt(0) == GgufParser.MAGIC;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Maps and parses a GGUF file of any architecture; the caller closes it. */
    public static GgufFile read(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file");
        }
        if (Files.isDirectory(path)) {
            throw new ModelFormatException(path + ": is a directory (expected a GGUF file)");
        }
        Arena arena = Arena.ofShared();
        boolean ok = false;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment segment = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            GgufFile file = GgufParser.parse(path, segment, arena);
            ok = true;
            return file;
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": no such file");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read the file (" + e.getMessage() + ")", e);
        } finally {
            if (!ok) {
                arena.close();
            }
        }
    }

    /**
     * Loads a GGUF model of architecture {@code llama}: config from {@code llama.*}, tensors under their GGUF names,
     * tokenizer from {@code tokenizer.ggml.*} (null when the file has none). Closing the model file unmaps it.
     */
    public static ModelFile load(Path path) {
        return model(read(path), path);
    }

    /**
     * Loads a GGUF model of architecture {@code llama} that is already in memory (a resource of the jar, copied once
     * off the heap): tensors are views into {@code data}, and closing the model file closes {@code arena}. {@code name}
     * stands for the file in messages.
     */
    public static ModelFile load(Path name, MemorySegment data, Arena arena) {
        GgufFile gguf;
        try {
            gguf = GgufParser.parse(name, data, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        return model(gguf, name);
    }

    private static ModelFile model(GgufFile gguf, Path path) {
        try {
            LlamaConfig config = llamaConfig(gguf);
            TokenizerSpec tokenizer = tokenizerSpec(gguf);
            return new ModelFile("GGUF v" + gguf.version(), path, config, gguf.tensors(), tokenizer, gguf.metadata(),
                    gguf.arena());
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    /** The tokenizer of any GGUF file (vocabulary-only files included), or null when it has none. */
    public static TokenizerSpec readTokenizer(Path path) {
        try (GgufFile gguf = read(path)) {
            return tokenizerSpec(gguf);
        }
    }

    /** The hyper-parameters of a {@code llama} GGUF file. */
    public static LlamaConfig llamaConfig(GgufFile gguf) {
        Meta m = new Meta(gguf);
        String arch = m.string("general.architecture");
        if (arch == null) {
            throw m.error("missing metadata key 'general.architecture' (expected 'llama')");
        }
        if (!arch.equals("llama")) {
            throw m.error("architecture '" + arch + "' is not supported (expected 'llama')");
        }
        String p = arch + ".";
        int dim = m.positiveInt(p + "embedding_length", -1);
        int layers = m.positiveInt(p + "block_count", -1);
        int heads = m.positiveInt(p + "attention.head_count", -1);
        int kvHeads = m.positiveInt(p + "attention.head_count_kv", heads);
        int hiddenDim = m.positiveInt(p + "feed_forward_length", -1);
        int contextLength = m.positiveInt(p + "context_length", -1);
        if (heads % kvHeads != 0) {
            throw m.error(p + "attention.head_count " + heads + " is not a multiple of " + p
                    + "attention.head_count_kv " + kvHeads);
        }
        if (!m.has(p + "attention.key_length") && dim % heads != 0) {
            throw m.error(p + "embedding_length " + dim + " is not a multiple of " + p + "attention.head_count "
                    + heads + " (and " + p + "attention.key_length is absent)");
        }
        int headDim = m.positiveInt(p + "attention.key_length", dim / heads);
        int valueDim = m.positiveInt(p + "attention.value_length", headDim);
        if (valueDim != headDim) {
            throw m.error(p + "attention.value_length " + valueDim + " differs from " + p + "attention.key_length "
                    + headDim + " (expected equal head sizes)");
        }
        int ropeDim = m.positiveInt(p + "rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0) {
            throw m.error(p + "rope.dimension_count " + ropeDim + " (expected an even number up to the head size "
                    + headDim + ")");
        }
        String scaling = m.string(p + "rope.scaling.type");
        if (scaling != null && !scaling.equals("none")) {
            throw m.error(p + "rope.scaling.type '" + scaling + "' is not supported (expected 'none'; Llama 3 "
                    + "frequency scaling comes as the rope_freqs.weight tensor)");
        }
        float ropeTheta = m.positiveFloat(p + "rope.freq_base", 10000f);
        float rmsEps = m.positiveFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f);

        int vocabSize;
        GgufTensorInfo embedding = gguf.tensorInfos().stream()
                .filter(t -> t.name().equals("token_embd.weight")).findFirst().orElse(null);
        if (embedding != null) {
            long[] shape = embedding.shape();
            if (shape.length != 2 || shape[0] != dim || shape[1] > Integer.MAX_VALUE) {
                throw m.error("tensor 'token_embd.weight' has shape " + Arrays.toString(shape) + " (expected ["
                        + dim + ", vocabulary size])");
            }
            vocabSize = (int) shape[1];
        } else if (m.has(p + "vocab_size")) {
            vocabSize = m.positiveInt(p + "vocab_size", -1);
        } else if (m.get("tokenizer.ggml.tokens") instanceof String[] tokens && tokens.length > 0) {
            vocabSize = tokens.length;
        } else {
            throw m.error("cannot tell the vocabulary size (expected a token_embd.weight tensor, " + p
                    + "vocab_size or tokenizer.ggml.tokens)");
        }
        return new LlamaConfig(dim, layers, heads, kvHeads, hiddenDim, vocabSize, contextLength, headDim, ropeDim,
                ropeTheta, rmsEps, null);
    }

    /** The tokenizer described by {@code tokenizer.ggml.*}, or null when {@code tokenizer.ggml.model} is absent. */
    public static TokenizerSpec tokenizerSpec(GgufFile gguf) {
        Meta m = new Meta(gguf);
        String model = m.string("tokenizer.ggml.model");
        if (model == null) {
            return null;
        }
        String pre = m.string("tokenizer.ggml.pre");
        Object tokensValue = m.get("tokenizer.ggml.tokens");
        if (!(tokensValue instanceof String[] tokens)) {
            throw m.error(tokensValue == null
                    ? "missing metadata key 'tokenizer.ggml.tokens' (expected an array of strings)"
                    : "tokenizer.ggml.tokens is " + m.typeName("tokenizer.ggml.tokens") + " (expected an array of strings)");
        }
        float[] scores = null;
        Object scoresValue = m.get("tokenizer.ggml.scores");
        if (scoresValue != null) {
            if (!(scoresValue instanceof float[] f)) {
                throw m.error("tokenizer.ggml.scores is " + m.typeName("tokenizer.ggml.scores")
                        + " (expected an array of float32)");
            }
            scores = f;
            m.checkLength("tokenizer.ggml.scores", scores.length, tokens.length);
        }
        int[] tokenTypes = m.intArray("tokenizer.ggml.token_type");
        if (tokenTypes != null) {
            m.checkLength("tokenizer.ggml.token_type", tokenTypes.length, tokens.length);
        }
        List<String> merges = null;
        Object mergesValue = m.get("tokenizer.ggml.merges");
        if (mergesValue != null) {
            if (!(mergesValue instanceof String[] s)) {
                throw m.error("tokenizer.ggml.merges is " + m.typeName("tokenizer.ggml.merges")
                        + " (expected an array of strings)");
            }
            merges = List.of(s);
        }
        boolean llama = model.equals("llama");
        boolean addBos = m.bool("tokenizer.ggml.add_bos_token",
                llama || (model.equals("gpt2") && pre != null && BOS_BY_DEFAULT_PRE.contains(pre)));
        boolean addEos = m.bool("tokenizer.ggml.add_eos_token", false);
        boolean addSpacePrefix = m.bool("tokenizer.ggml.add_space_prefix", llama);
        TokenizerSpec spec = new TokenizerSpec(model, pre, tokens, scores, tokenTypes, merges,
                m.tokenId("tokenizer.ggml.bos_token_id", tokens.length),
                m.tokenId("tokenizer.ggml.eos_token_id", tokens.length),
                m.tokenId("tokenizer.ggml.unknown_token_id", tokens.length),
                m.tokenId("tokenizer.ggml.padding_token_id", tokens.length),
                addBos, addEos, addSpacePrefix, m.string("tokenizer.chat_template"));
        String name = m.get("general.name") instanceof String s ? s.toLowerCase(java.util.Locale.ROOT) : "";
        if (tokenTypes != null && (name.contains("phi-3") || name.contains("phi3"))) {
            spec = spec.withStripFlags(phi3StripFlags(tokens, tokenTypes));
        }
        return spec;
    }

    /**
     * GGUF does not store which special tokens swallow the whitespace after them; llama.cpp decides by the model's
     * name, and for Phi-3 every special token does (so "<|user|>\nHi" is "<|user|>" "▁Hi"), except {@code <unk>},
     * {@code <s>} and {@code <|endoftext|>}.
     */
    private static int[] phi3StripFlags(String[] tokens, int[] types) {
        int[] flags = new int[tokens.length];
        for (int id = 0; id < tokens.length; id++) {
            int type = types[id];
            boolean special = type == TokenizerSpec.TYPE_CONTROL || type == TokenizerSpec.TYPE_USER_DEFINED
                    || type == TokenizerSpec.TYPE_UNKNOWN;
            String text = tokens[id];
            if ((special || text.equals("</s>"))
                    && !text.equals("<unk>") && !text.equals("<s>") && !text.equals("<|endoftext|>")) {
                flags[id] = TokenizerSpec.STRIP_RIGHT;
            }
        }
        return flags;
    }

    /** Typed access to metadata, with errors that name the file, the key and the expected type. */
    private record Meta(Path path, Map<String, Object> values, Map<String, GgufValueType> types) {

        Meta(GgufFile gguf) {
            this(gguf.path(), gguf.metadata(), gguf.valueTypes());
        }

        Object get(String key) {
            return values.get(key);
        }

        boolean has(String key) {
            return values.containsKey(key);
        }

        String typeName(String key) {
            GgufValueType type = types.get(key);
            Object v = values.get(key);
            if (type == GgufValueType.ARRAY) {
                return "an array (" + v.getClass().getSimpleName() + ")";
            }
            return "of type " + type.specName();
        }

        ModelFormatException error(String message) {
            return new ModelFormatException(path + ": " + message);
        }

        String string(String key) {
            Object v = values.get(key);
            if (v != null && !(v instanceof String)) {
                throw error(key + " is " + typeName(key) + " (expected a string)");
            }
            return (String) v;
        }

        /** An integer value in 1..Integer.MAX_VALUE; {@code fallback} when absent (-1: required). */
        int positiveInt(String key, int fallback) {
            Object v = values.get(key);
            if (v == null) {
                if (fallback < 0) {
                    throw error("missing metadata key '" + key + "' (expected a positive integer)");
                }
                return fallback;
            }
            if (!(v instanceof Integer || v instanceof Long)) {
                throw error(key + " is " + typeName(key) + " (expected an integer, such as uint32)");
            }
            long n = ((Number) v).longValue();
            if (n <= 0 || n > Integer.MAX_VALUE) {
                throw error(key + " is " + n + " (expected a positive integer)");
            }
            return (int) n;
        }

        float positiveFloat(String key, float fallback) {
            Object v = values.get(key);
            if (v == null) {
                return fallback;
            }
            if (!(v instanceof Number n)) {
                throw error(key + " is " + typeName(key) + " (expected float32)");
            }
            float f = n.floatValue();
            if (!(f > 0) || Float.isInfinite(f)) {
                throw error(key + " is " + f + " (expected a positive number)");
            }
            return f;
        }

        boolean bool(String key, boolean fallback) {
            Object v = values.get(key);
            if (v == null) {
                return fallback;
            }
            if (!(v instanceof Boolean b)) {
                throw error(key + " is " + typeName(key) + " (expected bool)");
            }
            return b;
        }

        int[] intArray(String key) {
            Object v = values.get(key);
            if (v == null) {
                return null;
            }
            if (v instanceof int[] a) {
                return a;
            }
            if (v instanceof long[] a) {
                int[] out = new int[a.length];
                for (int i = 0; i < a.length; i++) {
                    if (a[i] < Integer.MIN_VALUE || a[i] > Integer.MAX_VALUE) {
                        throw error(key + "[" + i + "] is " + a[i] + " (expected a 32-bit integer)");
                    }
                    out[i] = (int) a[i];
                }
                return out;
            }
            throw error(key + " is " + typeName(key) + " (expected an array of int32)");
        }

        void checkLength(String key, int length, int tokens) {
            if (length != tokens) {
                throw error(key + " has " + length + " entries (expected one per token: " + tokens + ")");
            }
        }

        /** A token id; absent, 0xFFFFFFFF (or any negative value) or out of range means none (-1), as in llama.cpp. */
        int tokenId(String key, int vocabSize) {
            Object v = values.get(key);
            if (v == null) {
                return -1;
            }
            if (!(v instanceof Integer || v instanceof Long)) {
                throw error(key + " is " + typeName(key) + " (expected uint32)");
            }
            long id = ((Number) v).longValue();
            return id >= 0 && id < vocabSize ? (int) id : -1;
        }
    }
}
