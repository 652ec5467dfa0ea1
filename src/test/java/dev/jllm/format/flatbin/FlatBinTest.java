package dev.jllm.format.flatbin;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.llama2c.Llama2cLoader;
import dev.jllm.format.llama2c.Stories260K;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FlatBinTest {

    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    @Test
    void writesStories260KAndReadsItBack() throws IOException {
        Path out = dir.resolve("stories260K-f16.bin");
        Map<String, float[]> original = Stories260K.weights();
        try (ModelFile legacy = Llama2cLoader.load(Stories260K.legacyFile())) {
            FlatBinWriter.write(legacy, out);
        }
        assertEquals(List.of(out), listDir(), "no temporary file left behind");
        long values = original.values().stream().mapToLong(a -> a.length).sum() + 512 * 64; // + the LM head copy
        assertEquals(36 + 2 * values, Files.size(out));
        assertTrue(FlatBinLoader.looksLikeFlatBin(out));
        assertFalse(Llama2cLoader.looksLikeLlama2c(out));
        assertFalse(FlatBinLoader.looksLikeFlatBin(Stories260K.legacyFile()));

        try (ModelFile model = FlatBinLoader.load(out)) {
            assertEquals("flat FP16", model.format());
            assertEquals(new LlamaConfig(64, 5, 8, 4, 172, 512, 512, 8, 8, 10000f, 1e-5f, null), model.config());
            assertNull(model.tokenizer());
            assertEquals(1 + 9 * 5 + 2, model.tensors().size());
            assertEquals(10000f, model.metadata().get("flatbin.rope_theta"));
            for (Map.Entry<String, float[]> e : original.entrySet()) {
                assertF16RoundTrip(e.getKey(), e.getValue(), model.tensor(e.getKey()));
            }
            assertF16RoundTrip("output.weight", original.get("token_embd.weight"), model.tensor("output.weight"));
            assertArrayEquals(new long[] {64, 8 * 4}, model.tensor("blk.0.attn_k.weight").shape());
            assertArrayEquals(new long[] {172, 64}, model.tensor("blk.0.ffn_down.weight").shape());
            assertTrue(model.tensor("blk.0.ffn_down.weight").data().isMapped());
        }
    }

    @Test
    void writesFromAQuantizedSource() throws IOException {
        Path v2 = Stories260K.exportFile(2);
        Path out = dir.resolve("from-v2.bin");
        try (ModelFile source = Llama2cLoader.load(v2)) {
            FlatBinWriter.write(source, out);
            try (ModelFile model = FlatBinLoader.load(out)) {
                for (String name : List.of("blk.3.ffn_down.weight", "blk.0.attn_q.weight", "output.weight")) {
                    Tensor from = source.tensor(name.equals("output.weight") ? "token_embd.weight" : name);
                    assertF16RoundTrip(name, from.toFloatArray(), model.tensor(name));
                }
            }
        }
    }

    /** A tiny file written byte by byte: dim 2, 1 layer, 1 head of 2, vocab 3, hidden 2; weight k holds k / 8. */
    @Test
    void readsAHandWrittenFile() throws IOException {
        int values = 6 + (2 + 4 + 4 + 4 + 4 + 2 + 4 + 4 + 4) + 2 + 6;
        ByteBuffer b = ByteBuffer.allocate(36 + 2 * values).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(2).putInt(1).putInt(1).putInt(1).putInt(3).putInt(16).putInt(2).putInt(2).putFloat(500000f);
        for (int k = 0; k < values; k++) {
            b.putShort(Float.floatToFloat16(k / 8f)); // exact in FP16
        }
        Path path = Files.write(dir.resolve("tiny.bin"), b.array());
        assertTrue(FlatBinLoader.looksLikeFlatBin(path));
        try (ModelFile model = FlatBinLoader.load(path)) {
            assertEquals(new LlamaConfig(2, 1, 1, 1, 2, 3, 16, 2, 2, 500000f, 1e-5f, null), model.config());
            Map<String, float[]> expected = new LinkedHashMap<>();
            int[] next = {0};
            java.util.function.IntFunction<float[]> take = n -> {
                float[] f = new float[n];
                for (int i = 0; i < n; i++) {
                    f[i] = next[0]++ / 8f;
                }
                return f;
            };
            expected.put("token_embd.weight", take.apply(6));
            for (String name : List.of("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                    "ffn_gate", "ffn_up", "ffn_down")) {
                expected.put("blk.0." + name + ".weight", take.apply(name.endsWith("norm") ? 2 : 4));
            }
            expected.put("output_norm.weight", take.apply(2));
            expected.put("output.weight", take.apply(6));
            assertEquals(List.copyOf(expected.keySet()), List.copyOf(model.tensors().keySet()), "file order");
            for (Map.Entry<String, float[]> e : expected.entrySet()) {
                Tensor t = model.tensor(e.getKey());
                assertEquals(GgmlType.F16, t.type());
                assertArrayEquals(e.getValue(), f16Values(t), e.getKey());
            }
            // token 2's embedding is the third row of 2 values; the LM head is [vocab][dim] the same way
            assertArrayEquals(new long[] {2, 3}, model.tensor("token_embd.weight").shape());
            assertArrayEquals(new float[] {4 / 8f, 5 / 8f},
                    Arrays.copyOfRange(f16Values(model.tensor("token_embd.weight")), 4, 6));
            assertArrayEquals(new long[] {2, 3}, model.tensor("output.weight").shape());
            // W_down is [out = dim][in = hidden]: output row 1 is the second pair of its values
            Tensor down = model.tensor("blk.0.ffn_down.weight");
            assertArrayEquals(new long[] {2, 2}, down.shape());
            assertEquals(2, down.rowLength());
            assertArrayEquals(new float[] {expected.get(down.name())[2], expected.get(down.name())[3]},
                    Arrays.copyOfRange(f16Values(down), 2, 4));
        }
    }

    // ---- bad input ----

    @Test
    void missingShortAndMisSizedFiles() throws IOException {
        assertFails(dir.resolve("nope.bin"), "no such file");
        assertFails(Files.createDirectory(dir.resolve("sub.bin")), "not a regular file");
        assertFails(Files.write(dir.resolve("short.bin"), new byte[20]), "shorter than the 36-byte");

        byte[] good = tinyFile(2, 1, 1, 1, 3, 16, 2, 2, 10000f);
        long expected = good.length;
        String message = assertFails(Files.write(dir.resolve("cut.bin"), Arrays.copyOf(good, good.length - 2)),
                "truncated");
        assertTrue(message.contains(String.valueOf(expected)) && message.contains(String.valueOf(expected - 2)),
                message);
        message = assertFails(Files.write(dir.resolve("long.bin"), Arrays.copyOf(good, good.length + 2)), "2 more");
        assertTrue(message.contains(String.valueOf(expected)), message);
        assertFalse(FlatBinLoader.looksLikeFlatBin(dir.resolve("cut.bin")));
        assertFalse(FlatBinLoader.looksLikeFlatBin(dir.resolve("long.bin")));
        assertFalse(FlatBinLoader.looksLikeFlatBin(dir.resolve("nope.bin")));
        assertFalse(FlatBinLoader.looksLikeFlatBin(Stories260K.shared().resolve("models/stories260K.gguf")));
    }

    @Test
    void implausibleHeaders() throws IOException {
        assertFails(header("dim.bin", 0, 1, 1, 1, 3, 16, 2, 2, 1e4f), "dim = 0");
        assertFails(header("dimneg.bin", -2, 1, 1, 1, 3, 16, 2, 2, 1e4f), "dim = -2");
        assertFails(header("layers.bin", 2, 1 << 20, 1, 1, 3, 16, 2, 2, 1e4f), "n_layers = 1048576");
        assertFails(header("vocab.bin", 2, 1, 1, 1, 0, 16, 2, 2, 1e4f), "vocab_size = 0");
        assertFails(header("seq.bin", 2, 1, 1, 1, 3, -1, 2, 2, 1e4f), "max_seq_len = -1");
        assertFails(header("kv.bin", 2, 1, 8, 3, 3, 16, 2, 2, 1e4f), "n_heads 8 is not divisible by n_kv_heads 3");
        assertFails(header("kvmore.bin", 2, 1, 2, 4, 3, 16, 2, 2, 1e4f), "n_kv_heads = 4");
        assertFails(header("hd.bin", 2, 1, 1, 1, 3, 16, 2, 3, 1e4f), "head_dim 3 is odd");
        assertFails(header("wide.bin", 2, 1, 1 << 16, 1, 3, 16, 2, 1 << 16, 1e4f), "n_heads * head_dim");
        assertFails(header("nan.bin", 2, 1, 1, 1, 3, 16, 2, 2, Float.NaN), "rope_theta = NaN");
        assertFails(header("zero.bin", 2, 1, 1, 1, 3, 16, 2, 2, 0f), "rope_theta = 0.0");
        assertFails(header("inf.bin", 2, 1, 1, 1, 3, 16, 2, 2, Float.POSITIVE_INFINITY), "rope_theta = Infinity");
        assertFalse(FlatBinLoader.looksLikeFlatBin(dir.resolve("kv.bin")));
    }

    // ---- the writer's failures leave no file behind ----

    @Test
    void writerRefusesRopeScaling() throws IOException {
        try (ModelFile legacy = Llama2cLoader.load(Stories260K.legacyFile())) {
            LlamaConfig c = legacy.config();
            LlamaConfig scaled = new LlamaConfig(c.dim(), c.layers(), c.heads(), c.kvHeads(), c.hiddenDim(),
                    c.vocabSize(), c.contextLength(), c.headDim(), c.ropeDim(), c.ropeTheta(), c.rmsEps(),
                    new LlamaConfig.RopeScaling(8f, 1f, 4f, 8192));
            ModelFile source = new ModelFile("test", legacy.path(), scaled, legacy.tensors(), null, Map.of(), null);
            Path out = dir.resolve("scaled.bin");
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> FlatBinWriter.write(source, out));
            assertTrue(e.getMessage().contains("RoPE frequency scaling"), e.getMessage());
            assertEquals(List.of(), listDir());
        }
    }

    @Test
    void writerChecksShapes() throws IOException {
        try (ModelFile legacy = Llama2cLoader.load(Stories260K.legacyFile())) {
            Map<String, Tensor> tensors = new LinkedHashMap<>(legacy.tensors());
            Tensor k = tensors.get("blk.1.attn_k.weight");
            tensors.put(k.name(), new Tensor(k.name(), k.type(), new long[] {32, 64}, k.data()));
            ModelFile source = new ModelFile("test", legacy.path(), legacy.config(), tensors, null, Map.of(), null);
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> FlatBinWriter.write(source, dir.resolve("bad.bin")));
            assertTrue(e.getMessage().contains("blk.1.attn_k.weight has shape [32, 64], expected [64, 32]"),
                    e.getMessage());
            assertEquals(List.of(), listDir());
        }
    }

    @Test
    void writerFailingMidwayKeepsTheOldFile() throws IOException {
        Path out = Files.writeString(dir.resolve("model.bin"), "old contents");
        try (ModelFile legacy = Llama2cLoader.load(Stories260K.legacyFile())) {
            // the LM head, written last, reads memory that is already gone
            MemorySegment gone;
            try (Arena arena = Arena.ofConfined()) {
                gone = arena.allocate(64L * 512 * 4);
            }
            Map<String, Tensor> tensors = new LinkedHashMap<>(legacy.tensors());
            tensors.put("output.weight", new Tensor("output.weight", GgmlType.F32, new long[] {64, 512}, gone));
            ModelFile source = new ModelFile("test", legacy.path(), legacy.config(), tensors, null, Map.of(), null);
            assertThrows(IllegalStateException.class, () -> FlatBinWriter.write(source, out));
        }
        assertEquals("old contents", Files.readString(out));
        assertEquals(List.of(out), listDir(), "no temporary file left behind");
    }

    @Test
    void writerRejectsValuesBeyondFp16() throws IOException {
        try (ModelFile legacy = Llama2cLoader.load(Stories260K.legacyFile()); Arena arena = Arena.ofConfined()) {
            MemorySegment norm = arena.allocate(64 * 4);
            for (int i = 0; i < 64; i++) {
                norm.setAtIndex(F32, i, i == 5 ? 1e6f : 1f);
            }
            Map<String, Tensor> tensors = new LinkedHashMap<>(legacy.tensors());
            tensors.put("output_norm.weight", new Tensor("output_norm.weight", GgmlType.F32, new long[] {64}, norm));
            ModelFile source = new ModelFile("test", legacy.path(), legacy.config(), tensors, null, Map.of(), null);
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> FlatBinWriter.write(source, dir.resolve("big.bin")));
            assertTrue(e.getMessage().contains("output_norm.weight") && e.getMessage().contains("FP16 range"),
                    e.getMessage());
        }
        assertEquals(List.of(), listDir());
    }

    // ---- helpers ----

    /** FP16 values read directly (the F16 kernel lives elsewhere). */
    static float[] f16Values(Tensor t) {
        MemorySegment data = t.data();
        float[] out = new float[Math.toIntExact(t.elementCount())];
        assertEquals(2L * out.length, data.byteSize(), t.name());
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.float16ToFloat(data.getAtIndex(F16, i));
        }
        return out;
    }

    private static void assertF16RoundTrip(String name, float[] original, Tensor t) {
        assertEquals(GgmlType.F16, t.type(), name);
        float[] actual = f16Values(t);
        assertEquals(original.length, actual.length, name);
        for (int i = 0; i < original.length; i++) {
            float expected = Float.float16ToFloat(Float.floatToFloat16(original[i]));
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(actual[i]), name + "[" + i + "]");
        }
    }

    private static byte[] tinyFile(int dim, int layers, int heads, int kvHeads, int vocab, int seq, int hidden,
            int headDim, float theta) {
        long values = (long) dim * vocab * 2 + dim + layers * (2L * dim + 2L * dim * heads * headDim
                + 2L * dim * kvHeads * headDim + 3L * dim * hidden);
        ByteBuffer b = ByteBuffer.allocate((int) (36 + 2 * values)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(dim).putInt(layers).putInt(heads).putInt(kvHeads).putInt(vocab).putInt(seq).putInt(hidden)
                .putInt(headDim).putFloat(theta);
        return b.array();
    }

    private Path header(String name, int dim, int layers, int heads, int kvHeads, int vocab, int seq, int hidden,
            int headDim, float theta) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(dim).putInt(layers).putInt(heads).putInt(kvHeads).putInt(vocab).putInt(seq).putInt(hidden)
                .putInt(headDim).putFloat(theta);
        return Files.write(dir.resolve(name), b.array());
    }

    private List<Path> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    private static String assertFails(Path path, String expectedPart) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> FlatBinLoader.load(path).close());
        String message = e.getMessage();
        assertTrue(message.contains(path.getFileName().toString()), "message names the file: " + message);
        assertTrue(message.contains(expectedPart), "expected '" + expectedPart + "' in: " + message);
        assertFalse(message.contains("\n"), "one line: " + message);
        return message;
    }
}
