package dev.jllm.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** GGUF files written by {@link GgufWriter}, read back by {@link GgufReader} and compared with llama.cpp's files. */
class GgufWriterTest {

    @TempDir
    Path dir;

    private final long seed = dev.jllm.TestSeeds.seed("GgufWriterTest");
    private final Random random = new Random(seed);

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K-f32.gguf", "models/stories260K-q8_0-mixed.gguf",
        "models/stories260K-q4_0-mixed.gguf", "models/llama3-tiny-q8_0.gguf", "models/synth256/synth256-q4_k_m-mixed.gguf",
        "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-llama3-from-tiktoken.gguf", "vocab/ggml-vocab-gpt-2.gguf"})
    void copiesOfLlamaCppFilesAreByteIdentical(String name) throws IOException {
        Path original = SharedData.file(name);
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile file = GgufReader.read(original)) {
            GgufWriter writer = GgufWriter.copyOf(file);
            writer.write(copy, null);
            assertEquals(Files.size(copy), writer.fileSize());
            byte[] expected = Files.readAllBytes(original);
            if (file.tensorInfos().isEmpty()) {
                // gguf-py ends a vocabulary-only file right after the header; ggml's writer (and this one) pads it
                expected = Arrays.copyOf(expected, (expected.length + 31) / 32 * 32);
            }
            assertEquals(-1, Arrays.mismatch(expected, Files.readAllBytes(copy)), "the copy differs from the original");
        }
    }
    @Test
    void everyValueTypeAndTensorRoundTrips() throws IOException {
        String[] strings = {"", "a", "▁über", "日本語", "<0x0A>", "x".repeat(1000)};
        GgufWriter w = new GgufWriter()
                .put("u8", GgufValueType.UINT8, 255)
                .put("i8", GgufValueType.INT8, -128)
                .put("u16", GgufValueType.UINT16, 65535)
                .put("i16", GgufValueType.INT16, -32768)
                .put("u32", GgufValueType.UINT32, 0xFFFF_FFFFL)
                .put("i32", GgufValueType.INT32, Integer.MIN_VALUE)
                .put("u64", GgufValueType.UINT64, -1L)
                .put("i64", GgufValueType.INT64, Long.MIN_VALUE)
                .put("f32", GgufValueType.FLOAT32, -0.0f)
                .put("f32 subnormal", GgufValueType.FLOAT32, Float.MIN_VALUE)
                .put("f64", GgufValueType.FLOAT64, Math.PI)
                .put("bool true", GgufValueType.BOOL, true)
                .put("bool false", GgufValueType.BOOL, false)
                .putString("string", "héllo ▁ world")
                .putString("empty string", "")
                .putArray("a u8", GgufValueType.UINT8, new int[] {0, 1, 255})
                .putArray("a i8", GgufValueType.INT8, new int[] {-128, 0, 127})
                .putArray("a u16", GgufValueType.UINT16, new int[] {0, 65535})
                .putArray("a i16", GgufValueType.INT16, new int[] {-32768, 32767})
                .putArray("a u32", GgufValueType.UINT32, new long[] {0, 0xFFFF_FFFFL})
                .putArray("a i32", GgufValueType.INT32, new int[] {Integer.MIN_VALUE, -1, Integer.MAX_VALUE})
                .putArray("a u64", GgufValueType.UINT64, new long[] {-1L, 0})
                .putArray("a i64", GgufValueType.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE})
                .putArray("a f32", GgufValueType.FLOAT32, new float[] {1.5f, Float.NEGATIVE_INFINITY, -0.0f})
                .putArray("a f64", GgufValueType.FLOAT64, new double[] {-2.25, Double.MAX_VALUE})
                .putArray("a bool", GgufValueType.BOOL, new boolean[] {true, false, true})
                .putArray("a string", GgufValueType.STRING, strings)
                .putArray("a empty", GgufValueType.FLOAT32, new float[0]);
        // sizes that need padding (12, 30, 34*3 bytes), a Q4_0 and a 3-D tensor
        List<byte[]> data = new ArrayList<>();
        Object[][] tensors = {
            {"t.f32", GgmlType.F32, new long[] {3}},
            {"t.f16", GgmlType.F16, new long[] {5, 3}},
            {"t.q8_0", GgmlType.Q8_0, new long[] {32, 3}},
            {"t.q4_0", GgmlType.Q4_0, new long[] {64, 2}},
            {"t.bf16", GgmlType.BF16, new long[] {4, 3, 2}},
        };
        for (Object[] t : tensors) {
            GgmlType type = (GgmlType) t[1];
            long[] shape = (long[]) t[2];
            byte[] bytes = new byte[(int) type.bytesFor(Arrays.stream(shape).reduce(1, Math::multiplyExact))];
            random.nextBytes(bytes);
            data.add(bytes);
            // streamed in pieces of 1 to 7 bytes, through both sink methods
            w.addTensor((String) t[0], type, shape, sink -> {
                for (int at = 0; at < bytes.length; ) {
                    int n = Math.min(bytes.length - at, 1 + random.nextInt(7));
                    if (random.nextBoolean()) {
                        sink.write(ByteBuffer.wrap(bytes, at, n));
                    } else {
                        sink.write(MemorySegment.ofArray(bytes).asSlice(at, n));
                    }
                    at += n;
                }
            });
        }
        Path file = dir.resolve("all.gguf");
        long[] lastProgress = {0, 0};
        w.write(file, (written, total) -> {
            assertTrue(written >= lastProgress[0] && written <= total, written + " of " + total);
            lastProgress[0] = written;
            lastProgress[1] = total;
        });
        assertEquals(Files.size(file), lastProgress[0], "progress ends at the file size (seed " + seed + ")");
        assertEquals(Files.size(file), lastProgress[1]);
        assertEquals(Files.size(file), w.fileSize());

        try (GgufFile g = GgufReader.read(file)) {
            assertEquals(3, g.version());
            assertEquals(32, g.alignment());
            Map<String, Object> m = g.metadata();
            assertEquals(List.copyOf(w.keys()), List.copyOf(m.keySet()), "keys in order");
            assertEquals(255, m.get("u8"));
            assertEquals(-128, m.get("i8"));
            assertEquals(65535, m.get("u16"));
            assertEquals(-32768, m.get("i16"));
            assertEquals(0xFFFF_FFFFL, m.get("u32"));
            assertEquals(Integer.MIN_VALUE, m.get("i32"));
            assertEquals(-1L, m.get("u64"));
            assertEquals(Long.MIN_VALUE, m.get("i64"));
            assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits((Float) m.get("f32")));
            assertEquals(Float.MIN_VALUE, m.get("f32 subnormal"));
            assertEquals(Math.PI, m.get("f64"));
            assertEquals(true, m.get("bool true"));
            assertEquals(false, m.get("bool false"));
            assertEquals("héllo ▁ world", m.get("string"));
            assertEquals("", m.get("empty string"));
            assertArrayEquals(new int[] {0, 1, 255}, (int[]) m.get("a u8"));
            assertArrayEquals(new int[] {-128, 0, 127}, (int[]) m.get("a i8"));
            assertArrayEquals(new int[] {0, 65535}, (int[]) m.get("a u16"));
            assertArrayEquals(new int[] {-32768, 32767}, (int[]) m.get("a i16"));
            assertArrayEquals(new long[] {0, 0xFFFF_FFFFL}, (long[]) m.get("a u32"));
            assertArrayEquals(new int[] {Integer.MIN_VALUE, -1, Integer.MAX_VALUE}, (int[]) m.get("a i32"));
            assertArrayEquals(new long[] {-1L, 0}, (long[]) m.get("a u64"));
            assertArrayEquals(new long[] {Long.MIN_VALUE, Long.MAX_VALUE}, (long[]) m.get("a i64"));
            assertArrayEquals(new float[] {1.5f, Float.NEGATIVE_INFINITY, -0.0f}, (float[]) m.get("a f32"));
            assertArrayEquals(new double[] {-2.25, Double.MAX_VALUE}, (double[]) m.get("a f64"));
            assertArrayEquals(new boolean[] {true, false, true}, (boolean[]) m.get("a bool"));
            assertArrayEquals(strings, (String[]) m.get("a string"));
            assertArrayEquals(new float[0], (float[]) m.get("a empty"));
            Map<String, GgufValueType> types = new java.util.HashMap<>(Map.of("u8", GgufValueType.UINT8,
                    "i8", GgufValueType.INT8, "u16", GgufValueType.UINT16, "i16", GgufValueType.INT16,
                    "u32", GgufValueType.UINT32, "i32", GgufValueType.INT32, "u64", GgufValueType.UINT64,
                    "i64", GgufValueType.INT64, "f32", GgufValueType.FLOAT32, "f64", GgufValueType.FLOAT64));
            types.putAll(Map.of("f32 subnormal", GgufValueType.FLOAT32, "bool true", GgufValueType.BOOL,
                    "bool false", GgufValueType.BOOL, "string", GgufValueType.STRING,
                    "empty string", GgufValueType.STRING));
            for (String key : m.keySet()) {
                assertEquals(key.startsWith("a ") ? GgufValueType.ARRAY : types.get(key), g.valueTypes().get(key), key);
            }
            assertEquals(GgufValueType.INT8, g.arrayElementTypes().get("a i8"));
            assertEquals(GgufValueType.UINT16, g.arrayElementTypes().get("a u16"));
            assertEquals(GgufValueType.UINT64, g.arrayElementTypes().get("a u64"));
            assertEquals(GgufValueType.STRING, g.arrayElementTypes().get("a string"));

            assertEquals(tensors.length, g.tensorInfos().size());
            for (int i = 0; i < tensors.length; i++) {
                GgufTensorInfo info = g.tensorInfos().get(i);
                assertEquals(tensors[i][0], info.name());
                assertEquals(tensors[i][1], info.type());
                assertArrayEquals((long[]) tensors[i][2], info.shape());
                assertEquals(0, info.offset() % 32, "aligned offset");
                assertEquals(0, g.dataOffset() % 32);
                byte[] read = g.segment().asSlice(g.dataOffset() + info.offset(), info.bytes())
                        .toArray(ValueLayout.JAVA_BYTE);
                assertArrayEquals(data.get(i), read, info.name() + " bit for bit (seed " + seed + ")");
            }
        }
    }

    @Test
    void bytesMatchAHandWrittenFile() throws IOException {
        // the same content through the test suite's byte-by-byte GGUF builder, written from the specification
        byte[] tensor = new byte[12];
        random.nextBytes(tensor);
        TestGguf expected = new TestGguf();
        expected.string("general.architecture", "llama").u32("llama.block_count", 7).f32("x", 0.25f)
                .bool("b", true).stringArray("tokenizer.ggml.tokens", "<s>", "▁a");
        expected.tensor("norm", TestGguf.T_F32, expected.alignData(), 3).data(tensor);
        expected.alignData();
        GgufWriter w = new GgufWriter().putString("general.architecture", "llama").putUInt32("llama.block_count", 7)
                .putFloat32("x", 0.25f).putBool("b", true)
                .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, new String[] {"<s>", "▁a"})
                .addTensor("norm", GgmlType.F32, new long[] {3}, sink -> sink.write(ByteBuffer.wrap(tensor)));
        Path file = dir.resolve("small.gguf");
        w.write(file, null);
        assertArrayEquals(expected.bytes(), Files.readAllBytes(file));
    }

    @Test
    void generalAlignmentIsHonoured() throws IOException {
        GgufWriter w = new GgufWriter().putUInt32("general.alignment", 256);
        for (int i = 0; i < 3; i++) {
            byte[] b = new byte[4 * (1 + random.nextInt(100))];
            random.nextBytes(b);
            w.addTensor("t" + i, GgmlType.F32, new long[] {b.length / 4}, sink -> sink.write(ByteBuffer.wrap(b)));
        }
        Path file = dir.resolve("aligned.gguf");
        w.write(file, null);
        try (GgufFile g = GgufReader.read(file)) {
            assertEquals(256, g.alignment());
            assertEquals(0, g.dataOffset() % 256);
            for (GgufTensorInfo info : g.tensorInfos()) {
                assertEquals(0, info.offset() % 256, info.toString());
            }
            assertEquals(0, Files.size(file) % 256);
        }
        assertThrows(IllegalArgumentException.class, () -> new GgufWriter().putUInt32("general.alignment", 48));
    }

    @Test
    void rejectsValuesThatDoNotFitTheirType() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.UINT8, 256));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.INT16, 40000));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.UINT32, -1L));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.FLOAT32, 1.0));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.STRING, 3));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GgufValueType.INT8, new int[] {200}));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GgufValueType.UINT32, new int[] {1}));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", GgmlType.Q8_0, new long[] {31}, s -> { }));
        w.addTensor("t", GgmlType.F32, new long[] {1}, s -> { });
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.F32, new long[] {1}, s -> { }));
        assertTrue(w.keys().isEmpty());
    }

    @Test
    void aFailedWriteLeavesNothingAndKeepsTheOldFile() throws IOException {
        Path file = dir.resolve("model.gguf");
        Files.writeString(file, "the old file");
        // a callback that fails halfway
        GgufWriter failing = new GgufWriter().putString("general.architecture", "llama")
                .addTensor("a", GgmlType.F32, new long[] {1024}, sink -> {
                    sink.write(ByteBuffer.allocate(2048));
                    throw new IOException("disk on fire");
                });
        IOException e = assertThrows(IOException.class, () -> failing.write(file, null));
        assertEquals("disk on fire", e.getMessage());
        assertEquals("the old file", Files.readString(file));
        assertEquals(List.of(file), list(dir));
        // a callback that writes too few bytes
        GgufWriter tooShort = new GgufWriter()
                .addTensor("b", GgmlType.F32, new long[] {8}, sink -> sink.write(ByteBuffer.allocate(28)));
        IllegalStateException s = assertThrows(IllegalStateException.class, () -> tooShort.write(file, null));
        assertTrue(s.getMessage().contains("'b'") && s.getMessage().contains("28 bytes written, expected 32"),
                s.getMessage());
        assertEquals(List.of(file), list(dir));
        // a directory that does not exist
        Path nowhere = dir.resolve("missing/model.gguf");
        GgufWriter ok = new GgufWriter().putString("general.architecture", "llama");
        assertThrows(IOException.class, () -> ok.write(nowhere, null));
        assertEquals(List.of(file), list(dir));
    }

    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    @Test
    void copyLoadsToTheSameModelAndLogits() throws IOException {
        // beyond bytes: the copy is the same model for the engine
        Path original = SharedData.model("stories260K-q8_0-mixed.gguf");
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile file = GgufReader.read(original)) {
            GgufWriter.copyOf(file).write(copy, null);
        }
        try (Model a = Model.load(original, null); Model b = Model.load(copy, null)) {
            assertEquals(a.config(), b.config());
            Session sa = a.newSession();
            Session sb = b.newSession();
            int[] prompt = a.tokenizer().encode("Once upon a time", true, false);
            assertArrayEquals(prompt, b.tokenizer().encode("Once upon a time", true, false));
            // the files are byte-identical (above); the engine's sums may differ in the last bit between a first,
            // not yet compiled run and later ones, so logits are compared to float rounding
            float[] la = sa.appendAll(prompt);
            float[] lb = sb.appendAll(prompt);
            assertEquals(la.length, lb.length);
            for (int i = 0; i < la.length; i++) {
                assertEquals(la[i], lb[i], 1e-5f * Math.max(1f, Math.abs(la[i])), "logit " + i);
            }
        }
    }
}
