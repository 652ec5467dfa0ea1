package dev.jllm.cli;

import dev.jllm.convert.ModelConverter;
import dev.jllm.convert.TypeFallback;
import dev.jllm.engine.Model;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.io.OutputFiles;
import dev.jllm.io.OutputPathException;
import dev.jllm.quant.QuantMix;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Convert a model between the formats jllm reads: GGUF, the flat FP16 binary, a Hugging Face"
                + " directory (safetensors + config.json + tokenizer.json) and llama2.c version 1 (fp32).",
            "Without --type each tensor keeps its type where the format allows (GGUF), else F32 (HF keeps F16/BF16)."
                + " Norms stay F32. The output appears only when complete."})
final class ConvertCommand extends IoCommand implements Runnable {

    private static final Map<String, ModelConverter.Target> TARGETS = Map.of("gguf", ModelConverter.Target.GGUF,
            "flatbin", ModelConverter.Target.FLATBIN, "hf", ModelConverter.Target.HF,
            "llama2c", ModelConverter.Target.LLAMA2C);

    @Parameters(index = "0", paramLabel = "IN", description = "The model: a file, or a Hugging Face directory.")
    Path input;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT",
            description = "The file to write (replaced if it exists); for --to hf a new or empty directory.")
    Path output;

    @Option(names = "--to", required = true, paramLabel = "FORMAT", description = "gguf, flatbin, hf or llama2c.")
    String to;

    @Option(names = "--type", paramLabel = "TYPE",
            description = "f32, f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m (llama-quantize's Q4_K_M mixture; GGUF"
                    + " only).")
    String typeName;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "Tokenizer to write with the model when IN has none (default: tokenizer.bin beside a llama2.c"
                    + " checkpoint).")
    Path tokenizer;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        ModelConverter.Target target = TARGETS.get(to.toLowerCase(Locale.ROOT));
        if (target == null) {
            throw new UserInputException("unknown --to '" + to + "' (expected gguf, flatbin, hf or llama2c)");
        }
        QuantMix type = null;
        if (typeName != null) {
            type = QuantMix.parse(typeName);
            if (type == null) {
                throw new UserInputException("unknown --type '" + typeName + "' (expected "
                        + QuantMix.namesInWords() + ")");
            }
        }
        try { // before loading anything
            if (target == ModelConverter.Target.HF) {
                OutputFiles.checkDirectory(output, OutputFiles.Links.FOLLOW);
            } else {
                OutputFiles.checkFile(output, OutputFiles.Links.FOLLOW);
            }
        } catch (OutputPathException e) {
            throw new UserInputException(e.getMessage(), e);
        }
        long start = System.nanoTime();
        try (ModelFile file = ModelLoaders.open(input)) {
            ModelFile source = withTokenizer(file);
            List<TypeFallback> fallbacks = ModelConverter.fallbacks(source, target, type);
            String warning = TypeFallback.warning(typeName, fallbacks, ModelConverter.matrixCount(source));
            if (warning != null) {
                err.println("jllm: warning: " + warning);
            }
            LazyProgress progress = new LazyProgress();
            try {
                ModelConverter.convertWithMix(source, output, target, type, progress);
            } catch (IOException e) {
                throw new UserInputException("cannot write " + output + ": " + OutputFiles.reason(e), e);
            } finally {
                progress.close();
            }
            out.printf("wrote %s: %s from %s (%s), in %.1f s%n", output, to.toLowerCase(Locale.ROOT)
                    + (typeName != null ? " " + typeName.toLowerCase(Locale.ROOT) : "")
                    + (fallbacks.isEmpty() ? "" : " (" + fallbacks.size() + " matrices in "
                    + fallbacks.getFirst().used().name() + ", see the warning)"), input, file.format(),
                    (System.nanoTime() - start) / 1e9);
        }
    }

    /** The file with the --tokenizer (or llama2.c's tokenizer.bin beside it) when it has none of its own. */
    private ModelFile withTokenizer(ModelFile file) {
        Path tok = tokenizer;
        if (tok == null && file.tokenizer() == null) {
            Path beside = file.path().toAbsolutePath().resolveSibling("tokenizer.bin");
            tok = Files.isRegularFile(beside) ? beside : null;
        }
        if (tok == null) {
            return file;
        }
        TokenizerSpec spec = Model.tokenizerSpec(file, tok); // the vocabulary sizes must agree, whatever the format
        return new ModelFile(file.format(), file.path(), file.config(), file.tensors(), spec, file.metadata(), null);
    }

    /** Opens the progress display on the first update, when the total is known. */
    private final class LazyProgress implements ModelConverter.Progress, AutoCloseable {
        private FileProgress progress;

        @Override
        public void update(long done, long total) {
            if (progress == null) {
                progress = FileProgress.create("convert", err, total, 16L << 20);
            }
            progress.update(done, total);
        }

        @Override
        public void close() {
            if (progress != null) {
                progress.close();
            }
        }
    }
}
