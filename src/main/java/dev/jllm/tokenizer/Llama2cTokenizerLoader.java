package dev.jllm.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads llama2.c's {@code tokenizer.bin}: int32 {@code max_token_length}, then per token a float32 score, an int32
 * byte length and that many bytes of UTF-8 piece, all little-endian.
 *
 * <p>The file stores no token types and writes pieces as llama2.c's export script left them, so the loader puts them
 * back into GGUF terms: spaces become {@code '▁'} again, BOS and EOS (stored as {@code "\n<s>\n"} and
 * {@code "\n</s>\n"}) become {@code "<s>"} and {@code "</s>"}; {@code "<unk>"} is unknown, {@code "<s>"} and
 * {@code "</s>"} control, {@code "<0xNN>"} byte, every other piece normal. BOS is 1, EOS 2, unknown 0, as llama2.c
 * assumes; BOS is added by default and a space is prefixed, as SentencePiece does for Llama.
 */
public final class Llama2cTokenizerLoader {

    /** Longer pieces than this are taken as a sign of a corrupt file. */
    private static final int MAX_PIECE_BYTES = 1 << 16;

    private Llama2cTokenizerLoader() {
    }

    /**
     * @param tokenizerBin the {@code tokenizer.bin} file
     * @param vocabSize    how many tokens to read (the model's vocabulary size); 0 or less reads tokens until the end
     *                     of the file
     */
    public static TokenizerSpec load(Path tokenizerBin, int vocabSize) {
        byte[] data;
        try {
            data = Files.readAllBytes(tokenizerBin);
        } catch (NoSuchFileException e) {
            throw new TokenizerException("tokenizer file " + tokenizerBin + " not found");
        } catch (IOException e) {
            throw new TokenizerException("cannot read tokenizer file " + tokenizerBin + ": " + e.getMessage(), e);
        }
        ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4) {
            throw malformed(tokenizerBin, "truncated: " + data.length + " bytes, no max_token_length header");
        }
        int maxTokenLength = in.getInt();
        if (maxTokenLength < 0) {
            throw malformed(tokenizerBin, "negative max_token_length " + maxTokenLength);
        }

        String expected = vocabSize > 0 ? " of " + vocabSize : "";
        // A token takes at least 8 bytes of the file: the model's vocabulary size sizes nothing the file cannot hold.
        int capacity = Math.max(16, Math.min(vocabSize, in.remaining() / 8));
        List<String> pieces = new ArrayList<>(capacity);
        List<Float> scoreList = new ArrayList<>(capacity);
        while (vocabSize > 0 ? pieces.size() < vocabSize : in.hasRemaining()) {
            int id = pieces.size();
            if (in.remaining() < 8) {
                throw malformed(tokenizerBin, "truncated at token " + id + expected
                        + " (" + in.remaining() + " bytes left, 8 needed for score and length)");
            }
            float score = in.getFloat();
            int length = in.getInt();
            if (length < 0) {
                throw malformed(tokenizerBin, "negative piece length " + length + " at token " + id);
            }
            if (length > MAX_PIECE_BYTES) {
                throw malformed(tokenizerBin, "absurd piece length " + length + " at token " + id);
            }
            if (in.remaining() < length) {
                throw malformed(tokenizerBin, "truncated at token " + id + expected
                        + " (piece of " + length + " bytes, " + in.remaining() + " left)");
            }
            byte[] bytes = new byte[length];
            in.get(bytes);
            pieces.add(decodePiece(tokenizerBin, bytes, id));
            scoreList.add(score);
        }
        if (pieces.isEmpty()) {
            throw malformed(tokenizerBin, "no tokens");
        }

        int size = pieces.size();
        String[] tokens = new String[size];
        float[] scores = new float[size];
        int[] types = new int[size];
        for (int id = 0; id < size; id++) {
            String piece = pieces.get(id);
            String bare = piece.strip();
            if (bare.equals("<s>") || bare.equals("</s>")) {
                piece = bare;
            } else {
                piece = piece.replace(' ', '\u2581');
            }
            tokens[id] = piece;
            scores[id] = scoreList.get(id);
            types[id] = typeOf(piece);
        }
        return new TokenizerSpec("llama", null, tokens, scores, types, null,
                size > 1 ? 1 : -1, size > 2 ? 2 : -1, 0, -1,
                true, false, true, null);
    }

    private static int typeOf(String piece) {
        if (piece.equals("<unk>")) {
            return TokenizerSpec.TYPE_UNKNOWN;
        }
        if (piece.equals("<s>") || piece.equals("</s>")) {
            return TokenizerSpec.TYPE_CONTROL;
        }
        if (piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")
                && isUpperHex(piece.charAt(3)) && isUpperHex(piece.charAt(4))) {
            return TokenizerSpec.TYPE_BYTE;
        }
        return TokenizerSpec.TYPE_NORMAL;
    }

    private static boolean isUpperHex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
    }

    private static String decodePiece(Path file, byte[] bytes, int id) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw malformed(file, "piece of token " + id + " is not valid UTF-8");
        }
    }

    private static TokenizerException malformed(Path file, String problem) {
        return new TokenizerException("tokenizer file " + file + ": " + problem);
    }
}
