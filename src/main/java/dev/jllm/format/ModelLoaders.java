package dev.jllm.format;

import dev.jllm.format.flatbin.FlatBinLoader;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.format.llama2c.Llama2cLoader;
import dev.jllm.format.lumi.LumiLoader;
import dev.jllm.format.meta.MetaCheckpointLoader;
import dev.jllm.format.meta.TorchCheckpointLoader;
import dev.jllm.format.safetensors.HfModelLoader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a model file of any supported format, recognising it by its content rather than its name. */
public final class ModelLoaders {

    private ModelLoaders() {
    }

    /**
     * A GGUF model held in memory rather than in a file (the bundled demo model, read from the jar without a temporary
     * file); {@code name} stands for its path in messages, and closing the model file closes {@code arena}.
     */
    public static ModelFile open(Path name, MemorySegment data, Arena arena) {
        return GgufReader.load(name, data, arena);
    }

    public static ModelFile open(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file");
        }
        if (HfModelLoader.directoryOf(path) != null && Files.isRegularFile(
                HfModelLoader.directoryOf(path).resolve(HfModelLoader.CONFIG))) {
            return HfModelLoader.load(path);
        }
        if (MetaCheckpointLoader.isMetaCheckpoint(path)) {
            return MetaCheckpointLoader.load(path);
        }
        if (Files.isDirectory(path)) {
            throw new ModelFormatException(path + ": is a directory without config.json or params.json; expected a"
                    + " model file (.gguf, llama2.c .bin, flat FP16 .bin, PyTorch .pt/.pth, lumi .lmw), a Hugging Face"
                    + " model directory or a Meta checkpoint directory");
        }
        if (!Files.isReadable(path)) {
            throw new ModelFormatException(path + ": cannot be read (permission denied)");
        }
        if (GgufReader.isGguf(path)) {
            return GgufReader.load(path);
        }
        if (TorchCheckpointLoader.isTorchCheckpoint(path)) {
            return TorchCheckpointLoader.load(path);
        }
        if (LumiLoader.isLumi(path)) {
            return LumiLoader.load(path);
        }
        if (Llama2cLoader.looksLikeLlama2c(path)) {
            return Llama2cLoader.load(path);
        }
        if (FlatBinLoader.looksLikeFlatBin(path)) {
            return FlatBinLoader.load(path);
        }
        if (path.getFileName().toString().endsWith(".gguf")) {
            return GgufReader.load(path); // reports what is wrong with the header
        }
        throw new ModelFormatException(path + ": unrecognised model format (expected GGUF, a llama2.c checkpoint,"
                + " a PyTorch checkpoint, a lumi .lmw or a flat FP16 binary whose size matches its header)");
    }
}
