package dev.jllm.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Text that may hold bytes that are not UTF-8 (a prompt typed in another encoding, a binary file): each such byte
 * 0xNN is kept in the string as the lone surrogate U+DCNN, as Python's {@code surrogateescape} does, so the tokenizers
 * can give it back as the byte it was (a byte token) instead of U+FFFD.
 */
public final class RawUtf8 {

    private RawUtf8() {
    }

    /** The text of {@code bytes}; a byte that is not part of valid UTF-8 becomes U+DC80..U+DCFF. */
    public static String decode(byte[] bytes) {
        if (bytes.length == 0) {
            return "";
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // never more chars than bytes
        while (in.hasRemaining()) {
            CoderResult result = decoder.decode(in, out, true);
            if (result.isError()) {
                for (int i = 0; i < result.length(); i++) {
                    out.put(escape(in.get()));
                }
            } else if (result.isUnderflow()) {
                break;
            }
        }
        decoder.flush(out);
        return out.flip().toString();
    }

    /** Whether {@code text} holds escaped bytes (it came from bytes that were not valid UTF-8). */
    public static boolean hasEscapedBytes(CharSequence text) {
        for (int i = 0; i < text.length(); i++) {
            if (isEscapedByte(text, i)) {
                return true;
            }
        }
        return false;
    }

    /** The UTF-8 bytes of {@code text}, with escaped bytes back as the bytes they were. */
    public static byte[] encode(String text) {
        if (!hasEscapedBytes(text)) {
            return text.getBytes(StandardCharsets.UTF_8);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length() + 8);
        int from = 0;
        for (int i = 0; i < text.length(); i++) {
            if (isEscapedByte(text, i)) {
                out.writeBytes(text.substring(from, i).getBytes(StandardCharsets.UTF_8));
                out.write(text.charAt(i) - 0xDC00);
                from = i + 1;
            }
        }
        out.writeBytes(text.substring(from).getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    /** The byte an escaped code point stands for, or -1 when {@code codePoint} is not one. */
    public static int byteOf(int codePoint) {
        return codePoint >= 0xDC80 && codePoint <= 0xDCFF ? codePoint - 0xDC00 : -1;
    }

    private static boolean isEscapedByte(CharSequence text, int i) {
        char c = text.charAt(i);
        return c >= 0xDC80 && c <= 0xDCFF && (i == 0 || !Character.isHighSurrogate(text.charAt(i - 1)));
    }

    private static char escape(byte b) {
        return (char) (0xDC00 + (b & 0xFF));
    }
}
