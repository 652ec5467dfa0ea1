package dev.jllm.tokenizer;

/**
 * Turns a stream of bytes, arriving in arbitrary pieces, into text, holding back an incomplete UTF-8 sequence until
 * its last byte arrives. Invalid bytes become U+FFFD as soon as they are known to be invalid, one U+FFFD per maximal
 * invalid subpart (Unicode's recommended practice, as in the WHATWG decoder and Python; Java's own decoder agrees except
 * that it replaces an encoded surrogate by one U+FFFD instead of three); {@link #flush()} turns an incomplete sequence
 * left at the end into U+FFFD.
 */
public final class Utf8StreamDecoder {

    private static final char REPLACEMENT = '\uFFFD';

    private int codePoint;
    private int bytesSeen;
    private int bytesNeeded;
    private int lowerBoundary = 0x80;
    private int upperBoundary = 0xBF;

    /** Feeds {@code bytes} and returns the characters they complete, possibly none. */
    public String decode(byte[] bytes) {
        return decode(bytes, 0, bytes.length);
    }

    /** Feeds {@code length} bytes from {@code offset} and returns the characters they complete, possibly none. */
    public String decode(byte[] bytes, int offset, int length) {
        StringBuilder out = new StringBuilder(length);
        for (int i = offset; i < offset + length; i++) {
            accept(bytes[i] & 0xFF, out);
        }
        return out.toString();
    }

    /** Ends the stream: an incomplete sequence becomes U+FFFD. The decoder can then be used for a new stream. */
    public String flush() {
        if (bytesNeeded == 0) {
            return "";
        }
        reset();
        return String.valueOf(REPLACEMENT);
    }

    /** Whether bytes of an incomplete character are held back. */
    public boolean hasPending() {
        return bytesNeeded != 0;
    }

    private void accept(int b, StringBuilder out) {
        if (bytesNeeded != 0) {
            if (b < lowerBoundary || b > upperBoundary) {
                // The sequence so far is invalid; this byte may start a new one.
                reset();
                out.append(REPLACEMENT);
            } else {
                codePoint = (codePoint << 6) | (b & 0x3F);
                bytesSeen++;
                lowerBoundary = 0x80;
                upperBoundary = 0xBF;
                if (bytesSeen == bytesNeeded) {
                    out.appendCodePoint(codePoint);
                    reset();
                }
                return;
            }
        }
        if (b < 0x80) {
            out.append((char) b);
        } else if (b >= 0xC2 && b <= 0xDF) {
            start(2, b & 0x1F);
        } else if (b >= 0xE0 && b <= 0xEF) {
            start(3, b & 0x0F);
            // Exclude overlong forms (E0 80..9F) and surrogates (ED A0..BF).
            if (b == 0xE0) lowerBoundary = 0xA0;
            if (b == 0xED) upperBoundary = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            start(4, b & 0x07);
            // Exclude overlong forms (F0 80..8F) and code points above U+10FFFF (F4 90..BF).
            if (b == 0xF0) lowerBoundary = 0x90;
            if (b == 0xF4) upperBoundary = 0x8F;
        } else {
            out.append(REPLACEMENT);
        }
    }

    private void start(int length, int bits) {
        bytesNeeded = length;
        bytesSeen = 1;
        codePoint = bits;
    }

    private void reset() {
        codePoint = 0;
        bytesSeen = 0;
        bytesNeeded = 0;
        lowerBoundary = 0x80;
        upperBoundary = 0xBF;
    }
}
