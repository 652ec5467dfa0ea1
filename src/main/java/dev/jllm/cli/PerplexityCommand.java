package dev.jllm.cli;

import dev.jllm.engine.Model;
import dev.jllm.engine.Perplexity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "perplexity", mixinStandardHelpOptions = true,
        description = "Perplexity of a text file, computed and printed as llama.cpp's llama-perplexity does.")
final class PerplexityCommand extends IoCommand implements Runnable {

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-f", "--file"}, required = true, paramLabel = "TEXT", description = "The text file.")
    Path textFile;

    @Override
    public void run() {
        String text;
        try {
            text = Files.readString(textFile, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new UserInputException(textFile + ": no such file");
        } catch (java.nio.charset.MalformedInputException e) {
            throw new UserInputException(textFile + ": not valid UTF-8 text");
        } catch (IOException e) {
            throw new UserInputException(textFile + ": cannot be read (" + e.getMessage() + ")");
        }
        // llama.cpp drops one trailing newline of a prompt file; doing the same gives the same chunks.
        if (text.endsWith("\n")) {
            text = text.substring(0, text.length() - 1);
        }
        try (Model model = modelOptions.load()) {
            int ctx = modelOptions.contextSize(model, err);
            int[] tokens = model.tokenizer().encode(text, model.tokenizer().addBosByDefault(), false);
            int chunks = tokens.length / ctx;
            err.printf("perplexity: %d tokens, calculating perplexity over %d chunks, n_ctx=%d%n", tokens.length, chunks, ctx);
            Perplexity.Result r = Perplexity.compute(model, tokens, ctx, modelOptions.cacheType(), (chunk, ppl) -> {
                out.printf("[%d]%.4f,", chunk, ppl);
                out.flush();
            });
            out.println();
            out.printf("Final estimate: PPL = %.4f +/- %.5f%n", r.perplexity(), r.error());
        }
    }
}
