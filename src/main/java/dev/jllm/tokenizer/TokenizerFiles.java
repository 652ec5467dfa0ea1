package dev.jllm.tokenizer;

import dev.jllm.format.gguf.GgufReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Loads the tokenizer of any file that holds one, recognised by content rather than name: a GGUF file (a model or a
 * vocabulary-only file), a Hugging Face {@code tokenizer.json}, a {@code tokenizer.model} in SentencePiece's protobuf
 * format or in tiktoken's text format (Llama 3), or llama2.c's {@code tokenizer.bin}. A directory stands for the
 * {@code tokenizer.json} or {@code tokenizer.model} in it.
 */
public final class TokenizerFiles {

    private TokenizerFiles() {
    }

    /** The tokenizer a file describes. */
    public static TokenizerSpec load(Path file) {
        return load(file, 0);
    }

    /**
     * The tokenizer a file describes.
     *
     * @param vocabSizeHint how many tokens a llama2.c {@code tokenizer.bin} holds (it does not say; the model does),
     *                      or 0 to read to the end of the file
     */
    public static TokenizerSpec load(Path file, int vocabSizeHint) {
        if (Files.isDirectory(file)) {
            for (String name : new String[] {"tokenizer.json", "tokenizer.model"}) {
                if (Files.isRegularFile(file.resolve(name))) {
                    return load(file.resolve(name), vocabSizeHint);
                }
            }
            throw new TokenizerException("tokenizer file " + file + " is a directory without tokenizer.json or"
                    + " tokenizer.model");
        }
        if (GgufReader.isGguf(file)) {
            TokenizerSpec spec = GgufReader.readTokenizer(file);
            if (spec == null) {
                throw new TokenizerException("tokenizer file " + file + ": the GGUF file has no tokenizer"
                        + " (no tokenizer.ggml.model)");
            }
            return spec;
        }
        byte[] head = readHead(file);
        return switch (kindOf(file, head)) {
            case JSON -> HfTokenizerJsonLoader.load(file);
            case TIKTOKEN -> TiktokenLoader.load(file);
            case SENTENCEPIECE -> SentencePieceModelLoader.load(file);
            case LLAMA2C -> Llama2cTokenizerLoader.load(file, vocabSizeHint);
        };
    }

    /**
     * The tokenizer of a {@code tokenizer.model} held in another file (lumi's .lmw embeds one): SentencePiece's
     * protobuf or tiktoken's text, told apart by content. {@code source} names it in messages.
     */
    public static TokenizerSpec loadModelBytes(Path source, byte[] data) {
        return TiktokenLoader.looksLikeTiktoken(data) ? TiktokenLoader.parse(source, data)
                : SentencePieceModelLoader.parse(source, data);
    }

    enum Kind { JSON, TIKTOKEN, SENTENCEPIECE, LLAMA2C }

    /** What kind of tokenizer file this is, from its first bytes (and, for a short file, its name). */
    static Kind kindOf(Path file, byte[] head) {
        int first = 0;
        while (first < head.length && Character.isWhitespace(head[first])) {
            first++;
        }
        if (first < head.length && head[first] == '{') {
            return Kind.JSON;
        }
        if (TiktokenLoader.looksLikeTiktoken(head)) {
            return Kind.TIKTOKEN;
        }
        // llama2.c starts with a small little-endian int32 (max_token_length); a ModelProto with field 1 (a piece).
        if (head.length >= 4 && head[1] == 0 && head[2] == 0 && head[3] == 0) {
            return Kind.LLAMA2C;
        }
        String name = file.getFileName() != null ? file.getFileName().toString() : "";
        if ((head.length > 0 && head[0] == 0x0A) || name.endsWith(".model")) {
            return Kind.SENTENCEPIECE;
        }
        if (name.endsWith(".json")) {
            return Kind.JSON;
        }
        return Kind.LLAMA2C;
    }

    private static byte[] readHead(Path file) {
        try (var in = Files.newInputStream(file)) {
            return in.readNBytes(1024);
        } catch (NoSuchFileException e) {
            throw new TokenizerException("tokenizer file " + file + " not found");
        } catch (IOException e) {
            throw new TokenizerException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        }
    }

    static byte[] readAll(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TokenizerException("tokenizer file " + file + " not found");
        } catch (IOException e) {
            throw new TokenizerException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        } catch (OutOfMemoryError e) {
            throw new TokenizerException("tokenizer file " + file + " is too large to read");
        }
    }
}
