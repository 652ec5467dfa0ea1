package dev.jllm.cli;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.format.flatbin.FlatBinLoader;
import dev.jllm.format.llama2c.Llama2cLoader;
import dev.jllm.tokenizer.Tokenizer;
import dev.jllm.tokenizer.TokenizerException;
import dev.jllm.tokenizer.TokenizerFiles;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.StringJoiner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Text to token ids and back, like llama.cpp's {@code llama-tokenize}. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Print the tokens of a text, one per line as  id -> 'piece'  (or as a list with --ids),"
                + " like llama.cpp's llama-tokenize; or with --detokenize the text of token ids.")
final class TokenizeCommand extends IoCommand implements Runnable {

    @Option(names = {"-m", "--model"}, paramLabel = "FILE",
            description = "Model or tokenizer file: GGUF (vocabulary-only too), tokenizer.json, tokenizer.model"
                    + " (SentencePiece or tiktoken), llama2.c tokenizer.bin, or a llama2.c checkpoint (with"
                    + " tokenizer.bin beside it or --tokenizer). Default: the bundled TinyStories-260K demo model.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "Tokenizer file to use instead of the model's.")
    Path tokenizerFile;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The text to tokenize.")
    String prompt;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the text to tokenize from a file.")
    Path promptFile;

    @Option(names = "--detokenize", paramLabel = "IDS",
            description = "Print the text of these token ids instead (comma-separated, e.g. 1,15043 or [1, 15043]).")
    String detokenize;

    @Option(names = "--ids", description = "Print only the ids, as a list: [1, 15043, 2787].")
    boolean idsOnly;

    @Option(names = "--no-bos", description = "Do not add BOS, even if the tokenizer asks for it.")
    boolean noBos;

    @Option(names = "--parse-special",
            description = "Turn special-token texts in the text (e.g. <s>, <|eot_id|>) into those tokens.")
    boolean parseSpecial;

    @Option(names = "--show-count", description = "Also print the number of tokens.")
    boolean showCount;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        int inputs = (prompt != null ? 1 : 0) + (promptFile != null ? 1 : 0) + (detokenize != null ? 1 : 0);
        if (inputs != 1) {
            throw new UserInputException("give exactly one of -p TEXT, -f FILE or --detokenize IDS");
        }
        Path source = tokenizerFile != null ? tokenizerFile : model != null ? model : BundledModel.NAME;
        Tokenizer tokenizer;
        try {
            tokenizer = Tokenizer.from(loadSpec());
        } catch (TokenizerException e) {
            throw e.getMessage().contains(source.toString()) ? e : new TokenizerException(source + ": " + e.getMessage(), e);
        }
        if (detokenize != null) {
            out.println(tokenizer.decode(parseIds(detokenize, tokenizer.vocabSize())));
            return;
        }
        String text = prompt != null ? prompt : readPrompt(promptFile);
        boolean addBos = tokenizer.addBosByDefault() && !noBos;
        int[] ids = tokenizer.encode(text, addBos, parseSpecial);
        if (idsOnly) {
            StringJoiner list = new StringJoiner(", ", "[", "]");
            for (int id : ids) {
                list.add(Integer.toString(id));
            }
            out.println(list);
        } else {
            for (int id : ids) {
                out.printf("%6d -> '%s'%n", id, show(tokenizer.renderBytes(id)));
            }
        }
        if (showCount) {
            out.println("Total number of tokens: " + ids.length);
        }
    }

    /** The tokenizer of the model file (or --tokenizer), whatever kind of file it is. */
    private TokenizerSpec loadSpec() {
        if (tokenizerFile != null) {
            return TokenizerFiles.load(tokenizerFile);
        }
        if (model == null) {
            try (ModelFile bundled = BundledModel.open(err)) {
                return bundled.tokenizer();
            }
        }
        if (!Files.exists(model)) {
            throw new UserInputException(model + ": no such file");
        }
        if (Llama2cLoader.looksLikeLlama2c(model) || FlatBinLoader.looksLikeFlatBin(model)) {
            try (ModelFile file = ModelLoaders.open(model)) {
                if (file.tokenizer() != null) {
                    return file.tokenizer();
                }
                Path beside = model.toAbsolutePath().resolveSibling("tokenizer.bin");
                if (!Files.exists(beside)) {
                    throw new UserInputException(model + ": the file has no tokenizer; name one with --tokenizer FILE");
                }
                return TokenizerFiles.load(beside, file.config().vocabSize());
            }
        }
        return TokenizerFiles.load(model);
    }

    private static String readPrompt(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UserInputException("cannot read " + file + " (" + (e instanceof java.nio.file.NoSuchFileException
                    ? "no such file" : e.getMessage()) + ")");
        } catch (java.io.UncheckedIOException e) {
            throw new UserInputException(file + " is not UTF-8 text");
        }
    }

    /** Ids as "1,2,3", "1 2 3" or "[1, 2, 3]", each checked against the vocabulary. */
    static int[] parseIds(String list, int vocabSize) {
        String trimmed = list.strip();
        if (trimmed.startsWith("[") && trimmed.endsWith("]")) {
            trimmed = trimmed.substring(1, trimmed.length() - 1);
        }
        if (trimmed.isBlank()) {
            return new int[0];
        }
        return Arrays.stream(trimmed.split("[,\\s]+")).filter(s -> !s.isEmpty()).mapToInt(s -> {
            int id;
            try {
                id = Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new UserInputException("--detokenize: '" + s + "' is not a token id");
            }
            if (id < 0 || id >= vocabSize) {
                throw new UserInputException("--detokenize: token id " + id + " is outside the vocabulary of "
                        + vocabSize + " tokens");
            }
            return id;
        }).toArray();
    }

    /** A piece as text; one that is not whole UTF-8 (a byte token's part of a character) as \xNN escapes. */
    static String show(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder escaped = new StringBuilder();
            for (byte b : bytes) {
                if ((b & 0x80) == 0) {
                    escaped.append((char) b);
                } else {
                    escaped.append(String.format("\\x%02X", b & 0xFF));
                }
            }
            return escaped.toString();
        }
    }
}
