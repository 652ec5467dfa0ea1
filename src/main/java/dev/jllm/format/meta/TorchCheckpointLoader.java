package dev.jllm.format.meta;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.pytorch.Pickled;
import dev.jllm.format.pytorch.TorchArchive;
import dev.jllm.format.pytorch.TorchStorage;
import dev.jllm.format.pytorch.TorchTensor;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerFiles;
import dev.jllm.tokenizer.TokenizerSpec;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A {@code .pt}/{@code .pth} file written by {@code torch.save}. A training checkpoint of llama2.c or nanoGPT style
 * ({@code {"model": state_dict, "model_args": {...}, ...}}, names as Meta's, perhaps with the {@code _orig_mod.}
 * prefix {@code torch.compile} leaves) is loaded from its own hyper-parameters, every tensor a view of its mapped
 * storage; an output that is the embedding's very view is recognised as tied and not listed twice. A bare state dict
 * beside a {@code params.json} is one shard of a Meta checkpoint, and the whole directory is loaded.
 */
public final class TorchCheckpointLoader {

    private static final String[] PREFIXES = {"_orig_mod.", "module."};

    private TorchCheckpointLoader() {
    }

    /** Whether the file is a PyTorch checkpoint (the zip format, or the legacy one this loader names and refuses). */
    public static boolean isTorchCheckpoint(Path path) {
        return TorchArchive.isZip(path) || TorchArchive.isLegacyTorch(path);
    }

    public static ModelFile load(Path file) {
        Path params = file.toAbsolutePath().resolveSibling(MetaCheckpointLoader.PARAMS);
        Arena arena = Arena.ofShared();
        try {
            TorchArchive archive = TorchArchive.open(file, arena);
            Pickled.Dict root = archive.root() instanceof Pickled.Dict d ? d : null;
            Object model = root != null ? root.get("model") : null;
            Object args = root != null ? root.get("model_args") : null;
            if (model != null && args != null) {
                return training(file, archive, model, args, arena);
            }
            if (root == null || !Files.isRegularFile(params)) {
                throw new ModelFormatException(file + ": a PyTorch file whose pickle holds "
                        + (root == null ? "a " + pickledType(archive.root()) : "no 'model' and 'model_args'")
                        + "; expected a training checkpoint ({'model': state dict, 'model_args': {...}}) or a Meta"
                        + " shard with params.json beside it");
            }
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        arena.close();
        return MetaCheckpointLoader.load(params.getParent());
    }

    private static String pickledType(Object v) {
        return v instanceof Pickled.ListValue ? "list" : v instanceof Pickled.Tuple ? "tuple"
                : v instanceof TorchTensor ? "tensor" : v == null ? "None" : v.getClass().getSimpleName();
    }

    private static ModelFile training(Path file, TorchArchive archive, Object model, Object args, Arena arena) {
        String where = file.toString();
        Map<String, TorchTensor> state = new LinkedHashMap<>();
        for (Map.Entry<String, TorchTensor> e : tensorsOf(model, where + ": 'model'").entrySet()) {
            state.put(stripPrefixes(e.getKey()), e.getValue());
        }
        Map<String, Object> argValues = stringKeyed(args, where + ": 'model_args'");
        MetaParams params = MetaParams.from(argValues, where + ": model_args");
        TorchTensor embedding = state.get("tok_embeddings.weight");
        TorchTensor output = state.get("output.weight");
        boolean tied = embedding != null && output != null && output.sameViewAs(embedding);
        Map<String, Tensor> byMetaName = new LinkedHashMap<>();
        for (Map.Entry<String, TorchTensor> e : state.entrySet()) {
            String name = e.getKey();
            if (MetaNames.isRecomputed(name) || (tied && name.equals("output.weight"))) {
                continue;
            }
            if (MetaNames.canonical(name) == null) {
                throw MetaTensors.notLlama(where, name);
            }
            byMetaName.put(name, e.getValue().toTensor(where, name, arena));
        }
        Map<String, Tensor> tensors = MetaTensors.renamed(byMetaName, where);
        LlamaConfig config = MetaTensors.config(params, tensors, where);
        Path tokenizerFile = file.toAbsolutePath().resolveSibling("tokenizer.model");
        TokenizerSpec tokenizer = Files.isRegularFile(tokenizerFile) ? TokenizerFiles.load(tokenizerFile) : null;

        Map<TorchStorage, Integer> users = new IdentityHashMap<>();
        for (TorchTensor t : state.values()) {
            users.merge(t.storage(), 1, Integer::sum);
        }
        long shared = users.values().stream().filter(n -> n > 1).count();
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("general.architecture", "llama");
        metadata.putAll(MetaParams.metadata("pytorch.model_args.", argValues));
        metadata.put("pytorch.record", archive.record());
        metadata.put("pytorch.storages", archive.storages().size());
        metadata.put("pytorch.shared_storages", shared);
        metadata.put("pytorch.tied_output", tied);
        String format = "PyTorch training checkpoint (torch.save zip, model + model_args, " + state.size()
                + " tensors in " + users.size() + " storages" + (tied ? ", output tied to the embedding" : "") + ")";
        return new ModelFile(format, file, config, tensors, tokenizer, metadata, arena);
    }

    private static String stripPrefixes(String name) {
        for (String prefix : PREFIXES) {
            if (name.startsWith(prefix)) {
                return name.substring(prefix.length());
            }
        }
        return name;
    }

    /** A pickled dict of name to tensor (a state dict). */
    static Map<String, TorchTensor> tensorsOf(Object dict, String where) {
        if (!(dict instanceof Pickled.Dict d)) {
            throw new ModelFormatException(where + " is a " + pickledType(dict) + ", expected a dict of tensors");
        }
        Map<String, TorchTensor> out = new LinkedHashMap<>();
        for (Map.Entry<Object, Object> e : d.entries().entrySet()) {
            if (!(e.getKey() instanceof String name)) {
                throw new ModelFormatException(where + " has a key that is not a string");
            }
            if (!(e.getValue() instanceof TorchTensor t)) {
                throw new ModelFormatException(where + ": '" + name + "' is not a tensor");
            }
            out.put(name, t);
        }
        return out;
    }

    /** A pickled dict with string keys, as plain values (hyper-parameters). */
    static Map<String, Object> stringKeyed(Object dict, String where) {
        if (!(dict instanceof Pickled.Dict d)) {
            throw new ModelFormatException(where + " is a " + pickledType(dict) + ", expected a dict");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<Object, Object> e : d.entries().entrySet()) {
            if (e.getKey() instanceof String key) {
                out.put(key, e.getValue());
            }
        }
        return out;
    }
}
