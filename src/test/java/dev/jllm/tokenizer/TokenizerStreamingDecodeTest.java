package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Decoding generated tokens one at a time, with characters split over byte-fallback tokens. */
class TokenizerStreamingDecodeTest {

    private static Tokenizer llama2;

    @BeforeAll
    static void load() {
        llama2 = Tokenizer.from(Llama2cTokenizerLoader.load(SharedData.file("vocab/llama2-tokenizer.bin"), 32000));
    }

    /** Llama 2's byte tokens: {@code <0x00>} is id 3. */
    private static int byteToken(int b) {
        return 3 + b;
    }

    @Test
    void emojiSplitOverFourByteTokensAppearsWhenComplete() {
        // " this is 🦙.cpp": llama.cpp's vector has the llama as <0xF0> <0x9F> <0xA6> <0x99>.
        int[] ids = llama2.encode(" this is 🦙.cpp", false, false);
        assertArrayEquals(new int[] {29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223}, ids);

        TokenStreamDecoder decoder = new TokenStreamDecoder(llama2);
        StringBuilder shown = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            shown.append(decoder.accept(ids[i]));
        }
        assertEquals(" this is ", shown.toString());
        assertEquals("", decoder.accept(ids[4]));
        assertTrue(decoder.hasPending());
        assertEquals("", decoder.accept(ids[5]));
        assertEquals("", decoder.accept(ids[6]));
        assertEquals("🦙", decoder.accept(ids[7]));
        assertFalse(decoder.hasPending());
        assertEquals(".", decoder.accept(ids[8]));
        assertEquals("cpp", decoder.accept(ids[9]));
        assertEquals("", decoder.flush());
    }

    @Test
    void incompleteCharacterAtTheEndBecomesReplacementCharacter() {
        TokenStreamDecoder decoder = new TokenStreamDecoder(llama2);
        assertEquals("", decoder.accept(byteToken(0xF0)));
        assertEquals("", decoder.accept(byteToken(0x9F)));
        assertEquals("\uFFFD", decoder.flush());
        assertFalse(decoder.hasPending());
    }

    @Test
    void invalidSequencesBecomeReplacementCharacters() {
        TokenStreamDecoder decoder = new TokenStreamDecoder(llama2, 29871);
        // A stray continuation byte is invalid at once.
        assertEquals("\uFFFD", decoder.accept(byteToken(0x80)));
        // A lead byte followed by a normal token: the lead is invalid, the token's text follows.
        assertEquals("", decoder.accept(byteToken(0xC3)));
        assertEquals("\uFFFD Hello", decoder.accept(15043));
        // Bytes that never occur in UTF-8.
        assertEquals("\uFFFD", decoder.accept(byteToken(0xFF)));
        assertEquals("", decoder.flush());
    }

    @Test
    void decoderContinuingAfterThePromptKeepsTheSpace() {
        int[] prompt = llama2.encode("Hello", true, false);
        TokenStreamDecoder decoder = new TokenStreamDecoder(llama2, prompt[prompt.length - 1]);
        assertEquals(" World", decoder.accept(2787));
        // At the start of a text, after BOS, it is dropped.
        TokenStreamDecoder fresh = new TokenStreamDecoder(llama2);
        assertEquals("", fresh.accept(1));
        assertEquals("World", fresh.accept(2787));
    }

    /**
     * Streamed in random pieces, any byte sequence decodes as it does in one piece, and as Java decodes it whole,
     * except for encoded surrogates (ED A0..BF ..): Java replaces those three bytes by one U+FFFD, Unicode's
     * recommended practice (and Python's, and the WHATWG decoder's) by one per byte, which is what this decoder does.
     */
    @Test
    void utf8StreamMatchesWholeDecoding() {
        Random random = new Random(42);
        byte[][] samples = {
                "plain ascii".getBytes(StandardCharsets.UTF_8),
                "héllo wörld 🦙 日本語".getBytes(StandardCharsets.UTF_8),
                {(byte) 0xE0, (byte) 0x80, (byte) 0x80},             // overlong
                {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, // above U+10FFFF
                {(byte) 0xF0, (byte) 0x9F, (byte) 0xA6, 'x'},         // truncated, then ASCII
                {(byte) 0xC0, (byte) 0xAF, (byte) 0xC2},             // C0 is never valid; C2 at the end
        };
        for (byte[] sample : samples) {
            assertEquals(new String(sample, StandardCharsets.UTF_8), streamInPieces(sample, random));
        }
        // Python: b"\xed\xa0\x80".decode("utf-8", "replace") == "\ufffd" * 3
        assertEquals("\uFFFD\uFFFD\uFFFD", streamInPieces(new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, random));
        assertEquals("\uFFFD\uFFFDx", streamInPieces(new byte[] {(byte) 0xED, (byte) 0xBF, 'x'}, random));

        int[] interesting = {0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF,
                0xF0, 0xF4, 0xF5, 0xFF};
        for (int round = 0; round < 5000; round++) {
            byte[] bytes = new byte[random.nextInt(24)];
            for (int i = 0; i < bytes.length; i++) {
                // Favour bytes near UTF-8's boundaries.
                bytes[i] = (byte) (random.nextBoolean() ? random.nextInt(256)
                        : interesting[random.nextInt(interesting.length)]);
            }
            String streamed = streamInPieces(bytes, random);
            Utf8StreamDecoder whole = new Utf8StreamDecoder();
            assertEquals(whole.decode(bytes) + whole.flush(), streamed);
            if (!containsEncodedSurrogate(bytes)) {
                assertEquals(new String(bytes, StandardCharsets.UTF_8), streamed,
                        () -> java.util.HexFormat.ofDelimiter(" ").formatHex(bytes));
            }
        }
    }

    private static boolean containsEncodedSurrogate(byte[] bytes) {
        for (int i = 0; i + 1 < bytes.length; i++) {
            if ((bytes[i] & 0xFF) == 0xED && (bytes[i + 1] & 0xFF) >= 0xA0 && (bytes[i + 1] & 0xFF) <= 0xBF) {
                return true;
            }
        }
        return false;
    }

    private static String streamInPieces(byte[] bytes, Random random) {
        Utf8StreamDecoder decoder = new Utf8StreamDecoder();
        StringBuilder text = new StringBuilder();
        int offset = 0;
        while (offset < bytes.length) {
            int length = 1 + random.nextInt(Math.min(4, bytes.length - offset));
            text.append(decoder.decode(bytes, offset, length));
            offset += length;
        }
        return text.append(decoder.flush()).toString();
    }
}
