package dev.jllm.cli;

import dev.jllm.convert.TypeFallback;
import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.io.OutputFiles;
import dev.jllm.io.OutputPathException;
import dev.jllm.quant.QuantMix;
import dev.jllm.synth.ModelShape;
import dev.jllm.synth.SyntheticModel;
import dev.jllm.synth.Vocabulary;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "synth", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a LLaMA GGUF model with random weights (normal, std 0.02) for benchmarks.",
            "Every 2-D matrix (token embedding and output included) gets --type (q4_k_m: llama-quantize's Q4_K_M "
                + "mixture of Q4_K and Q6_K); norms stay F32. Named shapes: "
                + "stories15M, stories110M, tinyllama-1.1b, llama-3.2-1b, llama-2-7b, llama-3-8b; or give --dim, "
                + "--layers, --heads and --hidden (the other dimension options override a named shape's)."})
final class SynthCommand extends IoCommand implements Runnable {

    /** Files at least this large show progress. */
    private static final long PROGRESS_MIN_BYTES = 16L << 20;

    @Option(names = "--shape", paramLabel = "NAME", description = "A named shape (see above).")
    String shapeName;

    @Option(names = "--type", required = true, paramLabel = "TYPE",
            description = "f32, f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m.")
    String typeName;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE.gguf", description = "The file to write (replaced if it exists).")
    Path output;

    @Option(names = "--vocab", paramLabel = "FILE",
            description = "Take tokenizer.ggml.* from this GGUF file (e.g. ggml-vocab-llama-spm.gguf); its token count "
                    + "must match the vocabulary size. Default: a generated SentencePiece-style vocabulary.")
    Path vocab;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "Random seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--dim", paramLabel = "N", description = "Embedding length.")
    Integer dim;

    @Option(names = "--layers", paramLabel = "N", description = "Transformer blocks.")
    Integer layers;

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads.")
    Integer heads;

    @Option(names = "--kv-heads", paramLabel = "N", description = "Key/value heads (default: --heads).")
    Integer kvHeads;

    @Option(names = "--hidden", paramLabel = "N", description = "Feed-forward width.")
    Integer hidden;

    @Option(names = "--vocab-size", paramLabel = "N", description = "Tokens (default: the --vocab file's, else 32000).")
    Integer vocabSize;

    @Option(names = "--ctx", paramLabel = "N", description = "Context length (default 2048 for a custom shape).")
    Integer contextLength;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads generating weights (default: all cores).")
    Integer threads;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        QuantMix mix = QuantMix.parse(typeName);
        if (mix == null) {
            throw new UserInputException("unknown --type '" + typeName + "' (expected "
                    + QuantMix.namesInWords() + ")");
        }
        Vocabulary vocabulary = vocab != null ? Vocabulary.fromGguf(vocab) : null;
        ModelShape shape = shape(vocabulary);
        try {
            shape.validate();
        } catch (IllegalArgumentException e) {
            throw new UserInputException("shape " + shape.name() + ": " + e.getMessage());
        }
        if (vocabulary == null) {
            vocabulary = Vocabulary.generated(shape.vocabSize());
        } else if (vocabulary.size() != shape.vocabSize()) {
            throw new UserInputException("--vocab " + vocab + " has " + vocabulary.size() + " tokens but shape "
                    + shape.name() + " has a vocabulary of " + shape.vocabSize() + " (use a vocabulary of that size, "
                    + "set --vocab-size, or omit --vocab for a generated one)");
        }
        int threadCount = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (threadCount < 1) {
            throw new UserInputException("--threads " + threadCount + " (expected at least 1)");
        }
        SyntheticModel.Options options = new SyntheticModel.Options(shape, mix, vocabulary, seed, threadCount);

        ExecutorService pool = Executors.newFixedThreadPool(threadCount, r -> {
            Thread t = new Thread(r, "synth-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            GgufWriter writer = SyntheticModel.plan(options, pool);
            long size = writer.fileSize();
            checkOutput(size);
            List<TypeFallback> fallbacks = fallbacks(writer, mix, shape.layers());
            String warning = TypeFallback.warning(typeName, fallbacks, (int) writer.tensorShapes().values().stream()
                    .filter(dims -> dims.length >= 2).count());
            if (warning != null) {
                err.println("jllm: warning: " + warning);
            }
            long start = System.nanoTime();
            try (FileProgress progress = FileProgress.create("synth", err, size, PROGRESS_MIN_BYTES)) {
                writer.write(output, progress);
            } catch (IOException e) {
                throw new UserInputException("cannot write " + output + ": " + OutputFiles.reason(e), e);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            out.printf("wrote %s: %s, %s, %,d parameters, %d bytes (%.1f MiB) in %.1f s%n", output, shape.name(),
                    typeName.toLowerCase(Locale.ROOT) + (fallbacks.isEmpty() ? "" : " (" + fallbacks.size()
                    + " matrices in " + fallbacks.getFirst().used().name() + ", see the warning)"),
                    shape.parameterCount(), size, size / 1048576.0, seconds);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The matrices the writer stores in another type than {@code mix} wants (their rows do not fit its blocks). */
    private static List<TypeFallback> fallbacks(GgufWriter writer, QuantMix mix, int layers) {
        List<TypeFallback> out = new java.util.ArrayList<>();
        Map<String, long[]> shapes = writer.tensorShapes();
        boolean hasOutput = shapes.containsKey("output.weight");
        writer.tensorTypes().forEach((name, used) -> {
            long[] shape = shapes.get(name);
            GgmlType wanted = mix.wanted(name, shape, layers, hasOutput);
            if (shape.length >= 2 && used != wanted) {
                out.add(new TypeFallback(name, shape[0], wanted, used));
            }
        });
        return out;
    }

    /** The named shape with the dimension options applied, or the custom shape they describe. */
    private ModelShape shape(Vocabulary vocabulary) {
        ModelShape base;
        if (shapeName != null) {
            base = ModelShape.named(shapeName);
            if (base == null) {
                throw new UserInputException("unknown --shape '" + shapeName + "' (expected one of "
                        + String.join(", ", ModelShape.names()) + "; or --dim, --layers, --heads and --hidden)");
            }
        } else {
            java.util.List<String> missing = new java.util.ArrayList<>();
            if (dim == null) {
                missing.add("--dim");
            }
            if (layers == null) {
                missing.add("--layers");
            }
            if (heads == null) {
                missing.add("--heads");
            }
            if (hidden == null) {
                missing.add("--hidden");
            }
            if (!missing.isEmpty()) {
                throw new UserInputException("give --shape NAME (" + String.join(", ", ModelShape.names())
                        + ") or a custom shape's dimensions (missing: " + String.join(", ", missing) + ")");
            }
            int defaultVocab = vocabulary != null ? vocabulary.size() : 32000;
            base = new ModelShape("custom", dim, layers, heads, heads, hidden, defaultVocab, 2048, 10000f, 1e-5f,
                    false, null);
        }
        int h = heads != null ? heads : base.heads();
        int kv = kvHeads != null ? kvHeads : heads != null ? h : base.kvHeads();
        ModelShape shape = new ModelShape(base.name(), dim != null ? dim : base.dim(),
                layers != null ? layers : base.layers(), h, kv, hidden != null ? hidden : base.hiddenDim(),
                vocabSize != null ? vocabSize : base.vocabSize(),
                contextLength != null ? contextLength : base.contextLength(), base.ropeTheta(), base.rmsEps(),
                base.tiedEmbeddings(), base.ropeScaling());
        boolean changed = shapeName != null && !shape.equals(base);
        return changed ? shape.withName(base.name() + "-custom") : shape;
    }

    /** Fails early, with nothing written, when the output cannot be written. */
    private void checkOutput(long size) {
        Path real;
        try {
            real = OutputFiles.checkFile(output, OutputFiles.Links.FOLLOW);
        } catch (OutputPathException e) {
            throw new UserInputException(e.getMessage(), e);
        }
        Path dir = real.getParent();
        if (!Files.isWritable(dir)) {
            throw new UserInputException("cannot write " + output + ": directory " + dir + " is not writable");
        }
        try {
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < size) {
                throw new UserInputException(String.format("cannot write %s: it needs %.1f MiB but %s has %.1f MiB free",
                        output, size / 1048576.0, dir, free / 1048576.0));
            }
        } catch (IOException e) {
            // no figure for the free space: try anyway
        }
    }
}
