package dev.jllm.tokenizer;

/**
 * Decodes generated tokens one at a time into text that can be printed at once: a character split over several
 * byte-fallback tokens appears when its last byte arrives, never in halves. Not thread-safe; one per stream.
 */
public final class TokenStreamDecoder {

    private final Tokenizer tokenizer;
    private final Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
    private int previousId;

    /** A decoder for a text that starts with the first token it is given. */
    public TokenStreamDecoder(Tokenizer tokenizer) {
        this(tokenizer, Tokenizer.NO_TOKEN);
    }

    /**
     * A decoder that continues after {@code previousId}, for example the last prompt token when only the generated
     * tokens are shown (it decides whether the first token's leading space is kept; see {@link Tokenizer#decodeBytes}).
     */
    public TokenStreamDecoder(Tokenizer tokenizer, int previousId) {
        this.tokenizer = tokenizer;
        this.previousId = previousId;
    }

    /** Adds one token and returns the text it completes, possibly empty. */
    public String accept(int id) {
        byte[] bytes = tokenizer.decodeBytes(id, previousId);
        previousId = id;
        return utf8.decode(bytes);
    }

    /** Ends the stream: returns U+FFFD if an incomplete character was held back, otherwise an empty string. */
    public String flush() {
        return utf8.flush();
    }

    /** Whether bytes of an incomplete character are held back. */
    public boolean hasPending() {
        return utf8.hasPending();
    }
}
