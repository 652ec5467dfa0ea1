package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cTokenizerLoaderTest {

    @TempDir
    Path dir;

    @Test
    void tok512TypesAndPiecesInGgufTerms() {
        TokenizerSpec spec = Llama2cTokenizerLoader.load(SharedData.file("models/tok512.bin"), 512);
        assertEquals("llama", spec.model());
        assertEquals(512, spec.vocabSize());
        assertEquals("<unk>", spec.tokens()[0]);
        assertEquals("<s>", spec.tokens()[1]);
        assertEquals("</s>", spec.tokens()[2]);
        assertEquals("<0x00>", spec.tokens()[3]);
        assertEquals("▁t", spec.tokens()[259]);
        assertEquals(-0.0f, spec.scores()[259]);
        assertEquals(-1.0f, spec.scores()[260]);
        // The same counts as stories260K.gguf's tokenizer.ggml.token_type: 1 unknown, 2 control, 256 byte, 253 normal.
        int[] counts = new int[7];
        for (int type : spec.tokenTypes()) {
            counts[type]++;
        }
        assertEquals(1, counts[TokenizerSpec.TYPE_UNKNOWN]);
        assertEquals(2, counts[TokenizerSpec.TYPE_CONTROL]);
        assertEquals(256, counts[TokenizerSpec.TYPE_BYTE]);
        assertEquals(253, counts[TokenizerSpec.TYPE_NORMAL]);
        assertEquals(1, spec.bosId());
        assertEquals(2, spec.eosId());
        assertEquals(0, spec.unkId());
        assertTrue(spec.addBos());
        assertFalse(spec.addEos());
        assertTrue(spec.addSpacePrefix());
    }

    @Test
    void nonPositiveVocabSizeReadsToTheEnd() {
        assertEquals(512, Llama2cTokenizerLoader.load(SharedData.file("models/tok512.bin"), 0).vocabSize());
        assertEquals(32000, Llama2cTokenizerLoader.load(SharedData.file("vocab/llama2-tokenizer.bin"), -1).vocabSize());
    }

    @Test
    void fewerTokensThanTheFileHolds() {
        TokenizerSpec spec = Llama2cTokenizerLoader.load(SharedData.file("models/tok512.bin"), 300);
        assertEquals(300, spec.vocabSize());
    }

    @Test
    void missingFile() {
        Path missing = dir.resolve("nothing-here.bin");
        assertOneLineError(missing, () -> Llama2cTokenizerLoader.load(missing, 512), "not found");
    }

    @Test
    void truncatedFileSaysAtWhichToken() throws IOException {
        byte[] whole = Files.readAllBytes(SharedData.file("models/tok512.bin"));
        Path cut = dir.resolve("cut-tokenizer.bin");
        Files.write(cut, Arrays.copyOf(whole, whole.length / 2));
        TokenizerException e = assertOneLineError(cut, () -> Llama2cTokenizerLoader.load(cut, 512), "truncated at token");
        // Asking for more tokens than the whole file holds fails the same way.
        Path full = dir.resolve("full-tokenizer.bin");
        Files.write(full, whole);
        assertOneLineError(full, () -> Llama2cTokenizerLoader.load(full, 513), "truncated at token 512");
        assertTrue(e.getMessage().matches(".*token \\d+ of 512.*"), e.getMessage());
    }

    @Test
    void headerOnlyOrEmptyFile() throws IOException {
        Path empty = dir.resolve("empty-tokenizer.bin");
        Files.write(empty, new byte[0]);
        assertOneLineError(empty, () -> Llama2cTokenizerLoader.load(empty, 512), "truncated");
        Path header = dir.resolve("header-tokenizer.bin");
        Files.write(header, new byte[] {7, 0, 0, 0});
        assertOneLineError(header, () -> Llama2cTokenizerLoader.load(header, 0), "no tokens");
    }

    @Test
    void negativeAndAbsurdLengths() throws IOException {
        Path negative = dir.resolve("negative-tokenizer.bin");
        Files.write(negative, file(7, 0f, 3, "abc", 0f, -5, ""));
        assertOneLineError(negative, () -> Llama2cTokenizerLoader.load(negative, 2),
                "negative piece length -5 at token 1");
        Path absurd = dir.resolve("absurd-tokenizer.bin");
        Files.write(absurd, file(7, 0f, Integer.MAX_VALUE, ""));
        assertOneLineError(absurd, () -> Llama2cTokenizerLoader.load(absurd, 1), "absurd piece length");
        Path negativeHeader = dir.resolve("header-negative-tokenizer.bin");
        Files.write(negativeHeader, file(-1, 0f, 1, "a"));
        assertOneLineError(negativeHeader, () -> Llama2cTokenizerLoader.load(negativeHeader, 1), "max_token_length");
    }

    @Test
    void invalidUtf8Piece() throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(4 + 8 + 2).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putInt(2).putFloat(0f).putInt(2).put((byte) 0xC3).put((byte) 0x28);
        Path bad = dir.resolve("latin1-tokenizer.bin");
        Files.write(bad, buffer.array());
        assertOneLineError(bad, () -> Llama2cTokenizerLoader.load(bad, 1), "not valid UTF-8");
    }

    /** A tokenizer.bin: max_token_length, then (score, length, piece) triples. */
    private static byte[] file(int maxTokenLength, Object... tokens) {
        ByteBuffer buffer = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putInt(maxTokenLength);
        for (int i = 0; i < tokens.length; i += 3) {
            buffer.putFloat((Float) tokens[i]).putInt((Integer) tokens[i + 1]);
            buffer.put(((String) tokens[i + 2]).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        return Arrays.copyOf(buffer.array(), buffer.position());
    }

    private static TokenizerException assertOneLineError(Path file, org.junit.jupiter.api.function.Executable load,
            String expected) {
        TokenizerException e = assertThrows(TokenizerException.class, load);
        String message = e.getMessage();
        assertTrue(message.contains(file.toString()), "names the file: " + message);
        assertTrue(message.contains(expected), "says '" + expected + "': " + message);
        assertFalse(message.contains("\n"), "one line: " + message);
        return e;
    }
}
