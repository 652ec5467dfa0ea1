package dev.jllm.format.gguf;

import static dev.jllm.format.gguf.TestGguf.ARRAY;
import static dev.jllm.format.gguf.TestGguf.BOOL;
import static dev.jllm.format.gguf.TestGguf.INT32;
import static dev.jllm.format.gguf.TestGguf.STRING;
import static dev.jllm.format.gguf.TestGguf.T_F32;
import static dev.jllm.format.gguf.TestGguf.T_Q8_0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged and unsupported files: each must end in one {@link ModelFormatException} whose single-line message names
 * the file and says what is wrong; no other exception type may escape.
 */
class GgufBadInputTest {

    @TempDir
    Path dir;

    /** Loads {@code file}, expecting a ModelFormatException naming it and containing every phrase. */
    static ModelFormatException rejects(Path file, String... phrases) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> {
            ModelFile model = GgufReader.load(file);
            model.close();
            fail("loaded " + file);
        });
        String message = e.getMessage();
        assertTrue(message.startsWith(file.toString() + ": "), "message should start with the file: " + message);
        assertFalse(message.contains("\n"), "message should be one line: " + message);
        for (String phrase : phrases) {
            assertTrue(message.contains(phrase), "message should contain '" + phrase + "': " + message);
        }
        return e;
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    private Path write(String name, TestGguf g) {
        return g.write(dir.resolve(name));
    }

    @Test
    void missingFileAndDirectory() {
        rejects(dir.resolve("nothing-here.gguf"), "no such file");
        rejects(dir, "directory");
    }

    @Test
    void notAGgufFile() throws IOException {
        rejects(write("empty.gguf", new byte[0]), "not a GGUF file");
        rejects(write("short.gguf", new byte[] {'G', 'G', 'U'}), "not a GGUF file");
        rejects(write("ggml.gguf", "ggjt\u0003\0\0\0 and so on".getBytes()), "not a GGUF file (magic 0x67676A74",
                "expected 'GGUF'");
        rejects(SharedTestData.file("models/stories260K.bin"), "not a GGUF file");
        rejects(write("magic-only.gguf", new byte[] {'G', 'G', 'U', 'F'}), "truncated at byte 8",
                "while reading the header", "file has 4 bytes");
    }

    @Test
    void unsupportedVersions() {
        TestGguf v1 = TestGguf.tinyLlama();
        v1.version = 1;
        rejects(write("v1.gguf", v1), "GGUF version 1 is not supported", "expected version 2 or 3");
        TestGguf v4 = TestGguf.tinyLlama();
        v4.version = 4;
        rejects(write("v4.gguf", v4), "unsupported GGUF version 4", "expected 2 or 3");
        TestGguf bigEndian = TestGguf.tinyLlama();
        bigEndian.version = 0x03000000;
        rejects(write("be.gguf", bigEndian), "big-endian");
    }

    @Test
    void truncatedRealFileAtEveryKindOfPlace() throws IOException {
        Path source = SharedTestData.file("models/stories260K-q8_0-mixed.gguf");
        byte[] whole = Files.readAllBytes(source);
        long dataOffset;
        try (GgufFile gguf = GgufReader.read(source)) {
            dataOffset = gguf.dataOffset();
        }
        Path file = dir.resolve("cut.gguf");
        int checked = 0;
        for (int cut = 0; cut < whole.length; cut += cut < 64 ? 1 : cut < dataOffset ? 41 : 4099) {
            Files.write(file, Arrays.copyOf(whole, cut));
            ModelFormatException e = rejects(file);
            String m = e.getMessage();
            if (cut >= 8 && cut < dataOffset - 32) {
                assertTrue(m.contains("truncated at byte") && m.contains("file has " + cut + " bytes"), m);
            } else if (cut >= dataOffset) {
                assertTrue(m.contains("extends past the end of the file (" + cut + " bytes)"), m);
            }
            checked++;
        }
        assertTrue(checked > 400, "checked " + checked + " cuts");
        Files.write(file, Arrays.copyOf(whole, whole.length - 1));
        rejects(file, "extends past the end of the file");
        // A cut inside the tensor infos says which tensor info it was reading.
        Files.write(file, Arrays.copyOf(whole, 14000));
        rejects(file, "truncated at byte", "while reading tensor info", "file has 14000 bytes");
        // A cut inside the vocabulary says which metadata value.
        Files.write(file, Arrays.copyOf(whole, 2000));
        rejects(file, "while reading metadata value 'tokenizer.ggml.tokens'");
    }

    @Test
    void unknownValueTypes() {
        rejects(write("kv-type.gguf", TestGguf.tinyLlama().kv("x", 13, b -> b.u32(0))),
                "unknown value type 13 for metadata key 'x'", "expected 0 to 12");
        rejects(write("array-type.gguf", TestGguf.tinyLlama().kv("y", ARRAY, b -> b.u32(99).u64(1).u32(0))),
                "unknown array element type 99", "metadata value 'y'");
    }

    @Test
    void invalidValues() {
        rejects(write("bool.gguf", TestGguf.tinyLlama().kv("b", BOOL, b -> b.u8(2))), "invalid bool value 2",
                "expected 0 or 1");
        rejects(write("dup.gguf", TestGguf.tinyLlama().u32("llama.block_count", 2)),
                "duplicate metadata key 'llama.block_count'");
        rejects(write("string-length.gguf", TestGguf.tinyLlama().kv("s", STRING, b -> b.u64(1L << 62))),
                "string length 4611686018427387904", "absurd");
        rejects(write("string-past-eof.gguf", TestGguf.tinyLlama().kv("s", STRING, b -> b.u64(1 << 20))),
                "truncated at byte", "metadata value 's'");
        rejects(write("array-length.gguf", TestGguf.tinyLlama().kv("a", ARRAY, b -> b.u32(INT32).u64(-2L))),
                "array length 18446744073709551614", "absurd");
        rejects(write("array-past-eof.gguf", TestGguf.tinyLlama().kv("a", ARRAY, b -> b.u32(INT32).u64(1 << 28))),
                "truncated at byte", "metadata value 'a'");
        Consumer<TestGguf.Bytes> deep = b -> {
            for (int i = 0; i < 100; i++) {
                b.u32(ARRAY).u64(1);
            }
            b.u32(INT32).u64(0);
        };
        rejects(write("deep.gguf", TestGguf.tinyLlama().kv("deep", ARRAY, deep)), "nested more than");
        rejects(write("alignment.gguf", TestGguf.tinyLlama().u32("general.alignment", 48)),
                "general.alignment is 48 (expected a power of two)");
        rejects(write("alignment-type.gguf", TestGguf.tinyLlama().string("general.alignment", "32")),
                "general.alignment has type string (expected uint32)");
    }

    @Test
    void badTensorInfos() {
        rejects(write("tensor-type.gguf", TestGguf.tinyLlama().tensor("bad", 99, 4096, 32)),
                "unknown tensor type id 99 for tensor 'bad'");
        rejects(write("tensor-type-4.gguf", TestGguf.tinyLlama().tensor("bad", 4, 4096, 32)),
                "unknown tensor type id 4 for tensor 'bad'");
        rejects(write("dims-5.gguf", TestGguf.tinyLlama().tensor("bad", T_F32, 4096, 1, 1, 1, 1, 1)),
                "tensor 'bad' has 5 dimensions (expected 1 to 4)");
        rejects(write("dims-0.gguf", TestGguf.tinyLlama().tensor("bad", T_F32, 4096)),
                "tensor 'bad' has 0 dimensions");
        rejects(write("dim-zero.gguf", TestGguf.tinyLlama().tensor("bad", T_F32, 4096, 8, 0)),
                "tensor 'bad' has dimension 1 = 0 (expected a positive size)");
        rejects(write("dim-huge.gguf", TestGguf.tinyLlama().tensor("bad", T_F32, 4096, 1L << 40, 1L << 40)),
                "tensor 'bad' has", "overflows");
        rejects(write("block.gguf", TestGguf.tinyLlama().tensor("bad", T_Q8_0, 4096, 48, 2)),
                "tensor 'bad' of type Q8_0 has rows of 48 values (expected a multiple of the block size 32)");
        rejects(write("unaligned.gguf", TestGguf.tinyLlama().tensor("bad", T_F32, 4100, 8)),
                "tensor 'bad' has data offset 4100 (expected a multiple of the alignment 32)");
        rejects(write("dup-tensor.gguf", TestGguf.tinyLlama().tensor("token_embd.weight", T_F32, 4096, 8)),
                "duplicate tensor name 'token_embd.weight'");
    }

    @Test
    void tensorDataOutsideTheFileOrOverlapping() {
        rejects(write("past-eof.gguf", TestGguf.tinyLlama().tensor("far", T_F32, 1L << 20, 8)),
                "tensor 'far'", "extends past the end of the file");
        rejects(write("offset-huge.gguf", TestGguf.tinyLlama().tensor("far", T_F32, -32L, 8)),
                "tensor 'far' has data offset 18446744073709551584");
        rejects(write("big.gguf", TestGguf.tinyLlama().tensor("big", T_F32, 0, 1L << 20, 1L << 31)),
                "tensor 'big'", "extends past the end of the file");
        // token_embd.weight (F32 [8, 4], 128 bytes at data offset 0) and a tensor placed inside it.
        rejects(write("overlap.gguf", TestGguf.tinyLlama().tensor("inside", T_F32, 64, 8)),
                "tensor data size mismatch", "'token_embd.weight'", "needs 128 bytes", "'inside' starts at data offset 64");
    }

    @Test
    void modelLevelProblems() {
        TestGguf gpt2 = new TestGguf().string("general.architecture", "gpt2");
        rejects(write("gpt2.gguf", gpt2), "architecture 'gpt2' is not supported (expected 'llama')");
        rejects(write("no-arch.gguf", new TestGguf().u32("llama.block_count", 1)),
                "missing metadata key 'general.architecture'");

        TestGguf noLayers = new TestGguf().string("general.architecture", "llama").u32("llama.embedding_length", 8);
        rejects(write("no-layers.gguf", noLayers), "missing metadata key 'llama.block_count'");

        rejects(write("layers-type.gguf", TestGguf.tinyLlama().string("llama.rope.dimension_count", "4")),
                "llama.rope.dimension_count is of type string (expected an integer");
        rejects(write("scores.gguf", TestGguf.tinyLlama().string("tokenizer.ggml.merges", "a b")),
                "tokenizer.ggml.merges is of type string (expected an array of strings)");
        TestGguf shortScores = new TestGguf()
                .string("tokenizer.ggml.model", "llama")
                .stringArray("tokenizer.ggml.tokens", "a", "b")
                .kv("tokenizer.ggml.scores", ARRAY, b -> b.u32(TestGguf.FLOAT32).u64(1).f32(0));
        Path shortScoresFile = write("short-scores.gguf", shortScores);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufReader.readTokenizer(shortScoresFile));
        assertTrue(e.getMessage().contains("tokenizer.ggml.scores has 1 entries (expected one per token: 2)"),
                e.getMessage());
        TestGguf gqa = new TestGguf()
                .string("general.architecture", "llama")
                .u32("llama.embedding_length", 8)
                .u32("llama.block_count", 1)
                .u32("llama.attention.head_count", 2)
                .u32("llama.attention.head_count_kv", 3)
                .u32("llama.feed_forward_length", 32)
                .u32("llama.context_length", 16)
                .u32("llama.vocab_size", 4);
        rejects(write("gqa.gguf", gqa),
                "llama.attention.head_count 2 is not a multiple of llama.attention.head_count_kv 3");
        rejects(write("eps.gguf", TestGguf.tinyLlama().f32("llama.attention.layer_norm_rms_epsilon", -1f)),
                "llama.attention.layer_norm_rms_epsilon is -1.0 (expected a positive number)");
        rejects(write("scaling.gguf", TestGguf.tinyLlama().string("llama.rope.scaling.type", "linear")),
                "llama.rope.scaling.type 'linear' is not supported");
    }

    @Test
    void randomCorruptionNeverEscapesAsAnotherException() throws IOException {
        long seed = dev.jllm.TestSeeds.seed("GgufBadInputTest.randomCorruptionNeverEscapesAsAnotherException");
        Random random = new Random(seed);
        byte[] good = TestGguf.tinyLlama().bytes();
        int headerEnd = good.length - 200;
        Path file = dir.resolve("fuzz.gguf");
        int failures = 0;
        for (int round = 0; round < 1500; round++) {
            byte[] bad = good.clone();
            int flips = 1 + random.nextInt(4);
            for (int f = 0; f < flips; f++) {
                int at = 4 + random.nextInt(headerEnd - 4);
                bad[at] = random.nextInt(3) == 0 ? (byte) 0xFF : (byte) random.nextInt(256);
            }
            if (random.nextInt(5) == 0) {
                bad = Arrays.copyOf(bad, random.nextInt(bad.length));
            }
            Files.write(file, bad);
            try (ModelFile model = GgufReader.load(file)) {
                model.tensors().values().forEach(t -> t.byteSize());
            } catch (ModelFormatException e) {
                failures++;
                assertTrue(e.getMessage().startsWith(file + ": ") && !e.getMessage().contains("\n"),
                        "seed " + seed + ": " + e.getMessage());
                assertFalse(e.getMessage().contains("malformed GGUF file at byte"),
                        "seed " + seed + ": a check is missing: " + e.getMessage());
            } catch (RuntimeException | Error e) {
                throw new AssertionError("seed " + seed + ", round " + round + ": " + e, e);
            }
        }
        assertTrue(failures > 100, "only " + failures + " corrupted files were rejected");
    }

    @Test
    void isGgufChecksTheMagic() throws IOException {
        assertTrue(GgufReader.isGguf(SharedTestData.file("models/stories260K-f32.gguf")));
        assertFalse(GgufReader.isGguf(SharedTestData.file("models/stories260K.bin")));
        assertFalse(GgufReader.isGguf(dir.resolve("missing.gguf")));
        assertFalse(GgufReader.isGguf(dir));
        assertFalse(GgufReader.isGguf(write("tiny", new byte[] {'G', 'G'})));
        assertEquals(true, GgufReader.isGguf(write("ok.gguf", TestGguf.tinyLlama())));
    }
}
