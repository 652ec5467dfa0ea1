package dev.jllm.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible mapping of bytes to printable characters, in which byte-level BPE vocabularies store their
 * tokens: the printable bytes {@code !..~}, {@code ¡..¬} and {@code ®..ÿ} stand for themselves, the other 68 bytes
 * (controls, space, DEL, NBSP, soft hyphen) for U+0100 onwards in byte order, so a space is {@code 'Ġ'} and a
 * newline {@code 'Ċ'}.
 */
final class ByteLevel {

    private static final char[] CHAR_OF_BYTE = new char[256];
    private static final int[] BYTE_OF_CHAR = new int[512];

    static {
        java.util.Arrays.fill(BYTE_OF_CHAR, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) next++;
            CHAR_OF_BYTE[b] = c;
            BYTE_OF_CHAR[c] = b;
        }
    }

    private ByteLevel() {
    }

    static char charOf(int b) {
        return CHAR_OF_BYTE[b & 0xFF];
    }

    /** The byte a character stands for, or -1 if it stands for none. */
    static int byteOf(char c) {
        return c < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[c] : -1;
    }

    /** Bytes as the characters that stand for them. */
    static String encode(byte[] bytes, int from, int to) {
        char[] chars = new char[to - from];
        for (int i = from; i < to; i++) {
            chars[i - from] = CHAR_OF_BYTE[bytes[i] & 0xFF];
        }
        return new String(chars);
    }

    static String encode(byte[] bytes) {
        return encode(bytes, 0, bytes.length);
    }

    /**
     * The bytes a token's text stands for. A character outside the mapping (which a well-formed vocabulary never has)
     * stands for its own UTF-8 bytes.
     */
    static byte[] decode(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int b = cp < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[cp] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
            }
            i += Character.charCount(cp);
        }
        return out.toByteArray();
    }
}
