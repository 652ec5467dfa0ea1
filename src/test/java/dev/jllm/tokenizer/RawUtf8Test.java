package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Bytes that are not UTF-8 survive the trip through a Java string and reach the tokenizers as bytes. */
class RawUtf8Test {

    @Test
    void anyBytesRoundTrip() {
        Random random = new Random(19);
        for (int round = 0; round < 2000; round++) {
            byte[] bytes = new byte[random.nextInt(40)];
            random.nextBytes(bytes);
            assertArrayEquals(bytes, RawUtf8.encode(RawUtf8.decode(bytes)));
        }
        String text = "café 🦙 日本";
        assertEquals(text, RawUtf8.decode(text.getBytes(StandardCharsets.UTF_8)), "valid UTF-8 is plain text");
        assertFalse(RawUtf8.hasEscapedBytes(text));
        String latin1 = RawUtf8.decode(new byte[] {'c', 'a', 'f', (byte) 0xE9});
        assertEquals("caf\uDCE9", latin1);
        assertTrue(RawUtf8.hasEscapedBytes(latin1));
        assertFalse(RawUtf8.hasEscapedBytes("🦙"), "a surrogate pair is a character, not escaped bytes");
    }

    /** The byte 0xE9 of a Latin-1 'é' becomes the byte token <0xE9>, in SentencePiece and in byte-level BPE. */
    @Test
    void tokenizersTurnEscapedBytesIntoByteTokens() {
        String latin1 = RawUtf8.decode(new byte[] {'c', 'a', 'f', (byte) 0xE9});
        Tokenizer spm = SharedVocabs.tokenizer(SharedVocabs.LLAMA_SPM);
        int[] ids = spm.encode(latin1, false, false);
        assertEquals("<0xE9>", spm.piece(ids[ids.length - 1]));
        assertArrayEquals(new byte[] {(byte) 0xE9}, spm.decodeBytes(ids[ids.length - 1], ids[ids.length - 2]));
        Tokenizer bpe = SharedVocabs.tokenizer(SharedVocabs.LLAMA3);
        int[] bpeIds = bpe.encode(latin1, false, false);
        java.io.ByteArrayOutputStream decoded = new java.io.ByteArrayOutputStream();
        int previous = Tokenizer.NO_TOKEN;
        for (int id : bpeIds) {
            decoded.writeBytes(bpe.decodeBytes(id, previous));
            previous = id;
        }
        assertArrayEquals(new byte[] {'c', 'a', 'f', (byte) 0xE9}, decoded.toByteArray());
    }
}
