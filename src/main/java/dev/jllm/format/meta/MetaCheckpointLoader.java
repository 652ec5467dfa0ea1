package dev.jllm.format.meta;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.pytorch.StridedCopy;
import dev.jllm.format.pytorch.TorchArchive;
import dev.jllm.format.pytorch.TorchTensor;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerFiles;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Meta's original download: a directory with {@code params.json}, the model-parallel shards {@code *.pth} (sorted by
 * name, as Meta's {@code generation.py} takes them: shard i is rank i) and {@code tokenizer.model}. One shard is read
 * in place. Several are joined as Meta's model-parallel layers split them ({@link MetaNames.Split}): the joined
 * matrices are copied once into memory of the model file's arena; the replicated norms are taken from the first shard
 * after checking that every shard holds the same bytes.
 */
public final class MetaCheckpointLoader {

    public static final String PARAMS = "params.json";
    private static final long MAX_PARAMS_BYTES = 1 << 20;

    private MetaCheckpointLoader() {
    }

    /** Whether {@code path} is a Meta checkpoint directory, or its params.json. */
    public static boolean isMetaCheckpoint(Path path) {
        Path dir = directoryOf(path);
        return dir != null && Files.isRegularFile(dir.resolve(PARAMS)) && !shards(dir).isEmpty();
    }

    /** The directory for a directory or its params.json, or null. */
    static Path directoryOf(Path path) {
        if (Files.isDirectory(path)) {
            return path;
        }
        Path name = path.getFileName();
        if (name != null && name.toString().equals(PARAMS)) {
            return path.toAbsolutePath().getParent();
        }
        return null;
    }

    /** The shards, sorted by name. */
    static List<Path> shards(Path dir) {
        List<Path> shards = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.pth")) {
            for (Path p : files) {
                if (Files.isRegularFile(p)) {
                    shards.add(p);
                }
            }
        } catch (IOException e) {
            return List.of();
        }
        shards.sort(null);
        return shards;
    }

    public static ModelFile load(Path path) {
        Path dir = directoryOf(path);
        if (dir == null) {
            throw new ModelFormatException(path + ": expected a Meta checkpoint directory (params.json, *.pth)");
        }
        Path paramsFile = dir.resolve(PARAMS);
        Map<String, Object> values = readParams(paramsFile);
        MetaParams params = MetaParams.from(values, paramsFile.toString());
        List<Path> shardFiles = shards(dir);
        if (shardFiles.isEmpty()) {
            throw new ModelFormatException(dir + ": has params.json but no *.pth shard");
        }
        if (params.heads() % shardFiles.size() != 0 || params.kvHeads() % shardFiles.size() != 0) {
            throw new ModelFormatException(dir + ": " + shardFiles.size() + " shards cannot split " + params.heads()
                    + " heads and " + params.kvHeads() + " KV heads evenly (are they of one model?)");
        }
        Arena arena = Arena.ofShared();
        try {
            List<Map<String, TorchTensor>> shards = new ArrayList<>();
            for (Path shard : shardFiles) {
                TorchArchive archive = TorchArchive.open(shard, arena);
                shards.add(TorchCheckpointLoader.tensorsOf(archive.root(), shard + ": the state dict"));
            }
            long[] copied = {0};
            Map<String, Tensor> byMetaName = join(shardFiles, shards, params, arena, copied);
            String where = dir.toString();
            Map<String, Tensor> tensors = MetaTensors.renamed(byMetaName, where);
            LlamaConfig config = MetaTensors.config(params, tensors, where);
            Path tokenizerFile = dir.resolve("tokenizer.model");
            TokenizerSpec tokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerFiles.load(tokenizerFile) : null;
            Map<String, Object> metadata = new LinkedHashMap<>();
            metadata.put("general.architecture", "llama");
            metadata.putAll(MetaParams.metadata("meta.", values));
            metadata.put("meta.shards", shardFiles.size());
            metadata.put("meta.joined_bytes", copied[0]);
            String format = "Meta checkpoint (params.json, " + (shardFiles.size() == 1 ? "1 shard, mapped in place"
                    : shardFiles.size() + " model-parallel shards joined in memory")
                    + (tokenizer != null ? ", tokenizer.model" : "") + ")";
            return new ModelFile(format, dir, config, tensors, tokenizer, metadata, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** One tensor per Meta name: a shard's own view when there is one shard, else the shards joined. */
    private static Map<String, Tensor> join(List<Path> files, List<Map<String, TorchTensor>> shards, MetaParams params,
            Arena arena, long[] copied) {
        Map<String, TorchTensor> first = shards.getFirst();
        for (int s = 1; s < shards.size(); s++) {
            if (!shards.get(s).keySet().equals(first.keySet())) {
                List<String> missing = new ArrayList<>(first.keySet());
                missing.removeAll(shards.get(s).keySet());
                List<String> extra = new ArrayList<>(shards.get(s).keySet());
                extra.removeAll(first.keySet());
                throw new ModelFormatException(files.get(s) + ": holds other tensors than " + files.getFirst()
                        + (missing.isEmpty() ? "" : " (missing '" + missing.getFirst() + "')")
                        + (extra.isEmpty() ? "" : " (extra '" + extra.getFirst() + "')"));
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : first.keySet()) {
            if (MetaNames.isRecomputed(name)) {
                continue;
            }
            if (MetaNames.canonical(name) == null) {
                throw MetaTensors.notLlama(files.getFirst().toString(), name);
            }
            List<TorchTensor> parts = new ArrayList<>();
            for (Map<String, TorchTensor> shard : shards) {
                parts.add(shard.get(name));
            }
            if (parts.size() == 1) {
                out.put(name, parts.getFirst().toTensor(files.getFirst().toString(), name, arena));
                continue;
            }
            MetaNames.Split split = MetaNames.split(name);
            if (split == MetaNames.Split.REPLICATED) {
                out.put(name, replicated(files, name, parts, arena));
                continue;
            }
            int axis = switch (split) {
                case ROWS -> 0;
                case COLUMNS -> 1;
                default -> embeddingAxis(files, name, parts, params);
            };
            Tensor joined = concatenate(files, name, parts, axis, arena);
            copied[0] += joined.byteSize();
            out.put(name, joined);
        }
        return out;
    }

    /** A norm every shard holds whole: the first shard's, once every shard is seen to hold the same bytes. */
    private static Tensor replicated(List<Path> files, String name, List<TorchTensor> parts, Arena arena) {
        Tensor t = parts.getFirst().toTensor(files.getFirst().toString(), name, arena);
        for (int s = 1; s < parts.size(); s++) {
            Tensor other = parts.get(s).toTensor(files.get(s).toString(), name, arena);
            if (other.type() != t.type() || !java.util.Arrays.equals(other.shape(), t.shape())
                    || MemorySegment.mismatch(t.data(), 0, t.byteSize(), other.data(), 0, other.byteSize()) != -1) {
                throw new ModelFormatException(files.get(s) + ": '" + name + "' differs from " + files.getFirst()
                        + "'s, but model-parallel shards replicate it (are they of one model?)");
            }
        }
        return t;
    }

    /** Llama 2's ParallelEmbedding splits the width (dim 1), Llama 3's VocabParallelEmbedding the vocabulary (dim 0). */
    private static int embeddingAxis(List<Path> files, String name, List<TorchTensor> parts, MetaParams params) {
        TorchTensor part = parts.getFirst();
        if (part.dimensions() == 2 && part.size(1) * parts.size() == params.dim()) {
            return 1;
        }
        if (part.dimensions() == 2 && part.size(1) == params.dim()) {
            return 0;
        }
        throw new ModelFormatException(files.getFirst() + ": '" + name + "' has size "
                + java.util.Arrays.toString(part.size()) + ", which splits neither the width " + params.dim()
                + " nor the vocabulary among " + parts.size() + " shards");
    }

    /** The shards' 2-D parts side by side along {@code axis}, copied into one row-major matrix. */
    private static Tensor concatenate(List<Path> files, String name, List<TorchTensor> parts, int axis, Arena arena) {
        TorchTensor first = parts.getFirst();
        GgmlType type = first.ggmlType(files.getFirst().toString(), name);
        int other = 1 - axis;
        long along = 0;
        for (int s = 0; s < parts.size(); s++) {
            TorchTensor p = parts.get(s);
            if (p.dimensions() != 2 || p.storage().type() != first.storage().type()
                    || p.size(other) != first.size(other)) {
                throw new ModelFormatException(files.get(s) + ": '" + name + "' has size "
                        + java.util.Arrays.toString(p.size()) + " of " + p.storage().type().className + ", but "
                        + files.getFirst() + " has " + java.util.Arrays.toString(first.size()) + " of "
                        + first.storage().type().className + " (expected parts to join along dim " + axis + ")");
            }
            along += p.size(axis);
        }
        long rows = axis == 0 ? along : first.size(0);
        long cols = axis == 1 ? along : first.size(1);
        int bytes = first.storage().type().elementBytes;
        MemorySegment joined = arena.allocate(Math.multiplyExact(Math.multiplyExact(rows, cols), (long) bytes), 64);
        long start = 0;
        for (TorchTensor p : parts) {
            long offset = axis == 0 ? start * cols : start;
            StridedCopy.copy(p.storage().data(), p.offset(), p.size(), p.stride(), joined, offset,
                    new long[] {cols, 1}, bytes);
            start += p.size(axis);
        }
        return new Tensor(name, type, new long[] {cols, rows}, joined);
    }

    private static Map<String, Object> readParams(Path file) {
        try {
            if (Files.size(file) > MAX_PARAMS_BYTES) {
                throw new ModelFormatException(file + ": is " + Files.size(file) + " bytes (expected a small JSON"
                        + " object)");
            }
            JsonNode node = new ObjectMapper().readTree(Files.readAllBytes(file));
            if (node == null || !node.isObject()) {
                throw new ModelFormatException(file + ": not a JSON object");
            }
            Map<String, Object> values = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                JsonNode v = f.getValue();
                values.put(f.getKey(), v.isIntegralNumber() && v.canConvertToLong() ? (Object) v.asLong()
                        : v.isNumber() ? (Object) v.asDouble()
                        : v.isBoolean() ? (Object) v.asBoolean()
                        : v.isTextual() ? v.asText()
                        : v.isNull() ? null : v.toString());
            }
            return values;
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file + ": not valid JSON ("
                    + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ModelFormatException(file + ": no such file");
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
