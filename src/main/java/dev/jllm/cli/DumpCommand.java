package dev.jllm.cli;

import dev.jllm.dump.ArrayFile;
import dev.jllm.dump.Dumps;
import dev.jllm.engine.Model;
import dev.jllm.io.OutputFiles;
import dev.jllm.io.OutputPathException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "dump", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Dump weights or activations as float32 files (CSV or .npy) to check the math with your own code.",
            "weights: one file per tensor (Hugging Face names and row order for a Hugging Face model, GGUF names"
                + " otherwise), dequantized, with its shape in NAME.json.",
            "activations: runs the prompt and writes, per layer N, x_layerN, xnorm_layerN, q/k_layerN (after RoPE),"
                + " v_layerN, attn_layerN, attn_out_layerN, ffn_out_layerN, meta_layerN.json; plus input_ids,"
                + " position_ids, attention_mask and logits."})
final class DumpCommand extends IoCommand implements Runnable {

    @Parameters(index = "0", paramLabel = "WHAT", description = "weights or activations.")
    String what;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "A new or empty directory.")
    Path output;

    @Option(names = "--filter", paramLabel = "REGEX", description = "weights: only tensors whose name this finds.")
    String filter;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "activations: the prompt.")
    String prompt;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "csv", description = "csv (default) or npy.")
    String formatName;

    @Override
    public void run() {
        try {
            OutputFiles.checkDirectory(output, OutputFiles.Links.FOLLOW); // before loading anything
        } catch (OutputPathException e) {
            throw new UserInputException(e.getMessage(), e);
        }
        ArrayFile format = switch (formatName.toLowerCase(Locale.ROOT)) {
            case "csv" -> ArrayFile.CSV;
            case "npy" -> ArrayFile.NPY;
            default -> throw new UserInputException("unknown --format '" + formatName + "' (expected csv or npy)");
        };
        switch (what) {
            case "weights" -> weights(format);
            case "activations" -> activations(format);
            default -> throw new UserInputException("unknown dump '" + what + "' (expected weights or activations)");
        }
    }

    private void weights(ArrayFile format) {
        Pattern pattern = null;
        if (filter != null) {
            try {
                pattern = Pattern.compile(filter);
            } catch (PatternSyntaxException e) {
                throw new UserInputException("--filter '" + filter + "' is not a valid regular expression: "
                        + e.getDescription());
            }
        }
        try (Model model = modelOptions.load()) {
            int n = Dumps.weights(model.file(), output, pattern, format);
            out.printf("wrote %d tensors to %s%n", n, output);
        } catch (IOException e) {
            throw new UserInputException("cannot write " + output + ": " + OutputFiles.reason(e), e);
        }
    }

    private void activations(ArrayFile format) {
        if (prompt == null) {
            throw new UserInputException("dump activations needs a prompt (-p TEXT)");
        }
        try (Model model = modelOptions.load()) {
            int[] tokens = model.tokenizer().encode(prompt, model.tokenizer().addBosByDefault(), false);
            Dumps.activations(model, tokens, output, format);
            out.printf("wrote activations of %d tokens, %d layers to %s%n", tokens.length, model.config().layers(),
                    output);
        } catch (IOException e) {
            throw new UserInputException("cannot write " + output + ": " + OutputFiles.reason(e), e);
        }
    }
}
