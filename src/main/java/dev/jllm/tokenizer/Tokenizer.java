package dev.jllm.tokenizer;

import java.util.Objects;

/**
 * Text to token ids and back, for one model's vocabulary.
 *
 * <p>Decoding follows llama2.c and SentencePiece rather than llama.cpp's {@code llama_detokenize} in one respect: the
 * space that encoding prefixes to the text ({@code add_space_prefix}) is removed from the first text token also when
 * it follows BOS, so {@code decode(encode(text, true, false))} gives back {@code text}. llama.cpp removes it only when
 * the sequence does not start with BOS (and its {@code llama-simple} prints {@code "<s> Once"}); without BOS both agree.
 */
public interface Tokenizer {

    /** The {@code previousId} to pass to {@link #decodeBytes} for the first token of a text. */
    int NO_TOKEN = -1;

    /**
     * Encodes {@code text}. Never adds EOS (see {@link #encode(String, boolean, boolean, boolean)}).
     *
     * @param addBos       put BOS first
     * @param parseSpecial whether control tokens written in the text (such as {@code "<s>"}) become those tokens;
     *                     user-defined tokens are matched either way, as llama.cpp does
     */
    default int[] encode(String text, boolean addBos, boolean parseSpecial) {
        return encode(text, addBos, false, parseSpecial);
    }

    /** Encodes {@code text}, with BOS first and EOS last as asked. */
    int[] encode(String text, boolean addBos, boolean addEos, boolean parseSpecial);

    /** Whether the model file asks for BOS when a prompt is encoded (llama.cpp's {@code add_special}). */
    boolean addBosByDefault();

    /** Whether the model file asks for EOS when a prompt is encoded. */
    boolean addEosByDefault();

    int vocabSize();

    /** BOS id, or -1 if the vocabulary has none. */
    int bosId();

    /** EOS id, or -1 if the vocabulary has none. */
    int eosId();

    /** Whether generation stops at this token: EOS, and end-of-turn tokens such as {@code <|eot_id|>}. */
    boolean isEndOfGeneration(int id);

    /** The token's piece as the vocabulary stores it (for example {@code "▁Hello"} or {@code "<0x0A>"}), for display. */
    String piece(int id);

    /**
     * The bytes token {@code id} adds to the text when it follows {@code previousId} ({@link #NO_TOKEN} at the start):
     * {@code '▁'} becomes a space, a byte token its byte, control and unknown tokens nothing. When the vocabulary adds a
     * space prefix, a text token that starts the text or follows BOS loses its leading space (llama2.c's rule).
     * A byte token may carry part of a UTF-8 character; {@link TokenStreamDecoder} puts characters back together.
     */
    byte[] decodeBytes(int id, int previousId);

    /**
     * The token as llama.cpp's {@code llama-tokenize} shows it (its piece with {@code special} on): the bytes it adds to
     * a text, and for control and unknown tokens their own text (such as {@code "<s>"}), with no space removed.
     */
    byte[] renderBytes(int id);

    /** The text of a whole sequence: the bytes of {@link #decodeBytes} in order, as UTF-8 (U+FFFD where invalid). */
    default String decode(int[] ids) {
        TokenStreamDecoder decoder = new TokenStreamDecoder(this);
        StringBuilder text = new StringBuilder();
        for (int id : ids) {
            text.append(decoder.accept(id));
        }
        return text.append(decoder.flush()).toString();
    }

    /** The tokenizer a model file describes. */
    static Tokenizer from(TokenizerSpec spec) {
        Objects.requireNonNull(spec, "spec");
        String model = spec.model();
        if ("llama".equals(model)) {
            return new SentencePieceBpe(spec);
        }
        if ("gpt2".equals(model)) {
            return new ByteLevelBpe(spec);
        }
        throw new TokenizerException("unsupported tokenizer model '" + model + "' (supported: llama, gpt2)");
    }
}
