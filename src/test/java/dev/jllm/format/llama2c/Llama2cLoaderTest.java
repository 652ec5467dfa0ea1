package dev.jllm.format.llama2c;

import static dev.jllm.format.llama2c.Stories260K.DIM;
import static dev.jllm.format.llama2c.Stories260K.HIDDEN;
import static dev.jllm.format.llama2c.Stories260K.KV_DIM;
import static dev.jllm.format.llama2c.Stories260K.LAYERS;
import static dev.jllm.format.llama2c.Stories260K.VOCAB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.GroupedQ8Type;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cLoaderTest {

    private static final LlamaConfig STORIES_CONFIG =
            new LlamaConfig(64, 5, 8, 4, 172, 512, 512, 8, 8, 10000f, 1e-5f, null);

    @TempDir
    Path dir;

    @Test
    void loadsLegacyStories260K() {
        Path path = Stories260K.legacyFile();
        Map<String, float[]> expected = Stories260K.weights();
        try (ModelFile model = Llama2cLoader.load(path)) {
            assertEquals("llama2.c legacy", model.format());
            assertEquals(STORIES_CONFIG, model.config());
            assertNull(model.tokenizer());
            assertEquals(512, model.metadata().get("llama2c.vocab_size"));
            assertEquals(true, model.metadata().get("llama2c.shared_classifier"));
            assertEquals(0, model.metadata().get("llama2c.version"));
            assertNull(model.tensorOrNull("output.weight"), "shared classifier: no output.weight");
            assertEquals(1 + 9 * LAYERS + 1, model.tensors().size());

            Tensor embd = model.tensor("token_embd.weight");
            assertArrayEquals(new long[] {DIM, VOCAB}, embd.shape());
            assertTrue(embd.data().isMapped(), "weights must be slices of the mapped file");
            ByteBuffer file = ByteBuffer.wrap(Stories260K.legacyBytes()).order(ByteOrder.LITTLE_ENDIAN);
            float[] firstRow = new float[DIM];
            embd.dequantizeRow(0, firstRow, 0);
            for (int i = 0; i < DIM; i++) {
                assertEquals(Float.floatToRawIntBits(file.getFloat(28 + 4 * i)), Float.floatToRawIntBits(firstRow[i]));
            }
            // the last weight before the final norm and the freq_cis tables is the last value of layer 4's w3
            float[] up4 = model.tensor("blk.4.ffn_up.weight").toFloatArray();
            long endOfW3 = file.capacity() - 4L * (2 * 512 * 8 / 2) - 4L * DIM;
            assertEquals(file.getFloat((int) endOfW3 - 4), up4[up4.length - 1]);

            assertArrayEquals(new long[] {DIM, DIM}, model.tensor("blk.2.attn_q.weight").shape());
            assertArrayEquals(new long[] {DIM, KV_DIM}, model.tensor("blk.2.attn_k.weight").shape());
            assertArrayEquals(new long[] {DIM, KV_DIM}, model.tensor("blk.2.attn_v.weight").shape());
            assertArrayEquals(new long[] {DIM, DIM}, model.tensor("blk.2.attn_output.weight").shape());
            assertArrayEquals(new long[] {DIM, HIDDEN}, model.tensor("blk.2.ffn_gate.weight").shape());
            assertArrayEquals(new long[] {HIDDEN, DIM}, model.tensor("blk.2.ffn_down.weight").shape());
            assertArrayEquals(new long[] {DIM, HIDDEN}, model.tensor("blk.2.ffn_up.weight").shape());
            assertArrayEquals(new long[] {DIM}, model.tensor("blk.2.ffn_norm.weight").shape());
            assertArrayEquals(new long[] {DIM}, model.tensor("output_norm.weight").shape());
            assertBitExact(expected, model);
        }
        assertTrue(Llama2cLoader.looksLikeLlama2c(path));
    }

    @Test
    void legacyWithUnsharedClassifier() throws IOException {
        Map<String, float[]> w = Stories260K.weights();
        float[] classifier = Stories260K.distinctClassifier(w);
        Path path = write("unshared.bin", Stories260K.legacy(w, classifier));
        assertTrue(Llama2cLoader.looksLikeLlama2c(path));
        try (ModelFile model = Llama2cLoader.load(path)) {
            assertEquals(STORIES_CONFIG, model.config());
            assertEquals(-512, model.metadata().get("llama2c.vocab_size"));
            assertEquals(false, model.metadata().get("llama2c.shared_classifier"));
            Tensor output = model.tensor("output.weight");
            assertArrayEquals(new long[] {DIM, VOCAB}, output.shape());
            assertArrayEquals(bits(classifier), bits(output.toFloatArray()));
            assertBitExact(w, model);
        }
    }

    /** export.py --version 1 writes the very floats of stories260K.bin (run.c's legacy file), in another order. */
    @Test
    void exportVersion1IsBitExactWithLegacy() throws IOException {
        Map<String, float[]> w = Stories260K.weights();
        Path shared = Stories260K.exportFile(1);
        assertTrue(Llama2cLoader.looksLikeLlama2c(shared));
        try (ModelFile model = Llama2cLoader.load(shared)) {
            assertEquals("llama2.c v1", model.format());
            assertEquals(STORIES_CONFIG, model.config());
            assertEquals(1, model.metadata().get("llama2c.version"));
            assertEquals(true, model.metadata().get("llama2c.shared_classifier"));
            assertNull(model.tensorOrNull("output.weight"));
            assertEquals(1 + 9 * LAYERS + 1, model.tensors().size());
            assertTrue(model.tensor("blk.3.ffn_down.weight").data().isMapped());
            assertBitExact(w, model);
        }
        // The same file with its classifier unshared: the negated embedding, appended where export.py puts it.
        Path unshared = write("v1-unshared.bin", Stories260K.withNegatedClassifier(1));
        try (ModelFile model = Llama2cLoader.load(unshared)) {
            assertEquals(false, model.metadata().get("llama2c.shared_classifier"));
            float[] negated = w.get("token_embd.weight").clone();
            for (int i = 0; i < negated.length; i++) {
                negated[i] = -negated[i];
            }
            assertArrayEquals(bits(negated), bits(model.tensor("output.weight").toFloatArray()));
            assertBitExact(w, model);
        }
    }

    /**
     * export.py --version 2 quantizes each tensor in groups of 64 values of the flattened tensor (quantize_q80): every
     * value is q * scale with scale = max|w| / 127 over its group, so within half a step (scale / 2) of the float
     * weight. w2's rows of 172 values do not hold whole groups; reading it by rows (runq.c's way) would give other
     * scales to 44 values of most rows and fail this check.
     */
    @Test
    void exportVersion2DequantizesWithinHalfAStep() throws IOException {
        int groupSize = 64;
        Map<String, float[]> w = Stories260K.weights();
        Path path = Stories260K.exportFile(2);
        assertTrue(Llama2cLoader.looksLikeLlama2c(path));
        try (ModelFile model = Llama2cLoader.load(path)) {
            assertEquals("llama2.c v2", model.format());
            assertEquals(STORIES_CONFIG, model.config());
            assertEquals(groupSize, model.metadata().get("llama2c.group_size"));
            assertEquals(1 + 9 * LAYERS + 1, model.tensors().size());
            assertNull(model.tensorOrNull("output.weight"));
            for (Map.Entry<String, float[]> e : w.entrySet()) {
                Tensor t = model.tensor(e.getKey());
                assertTrue(t.data().isMapped(), e.getKey());
                if (e.getKey().contains("norm")) {
                    assertEquals(GgmlType.F32, t.type());
                    assertArrayEquals(bits(e.getValue()), bits(t.toFloatArray()), e.getKey());
                } else {
                    assertEquals(new GroupedQ8Type(groupSize), t.type(), e.getKey());
                    assertQuantized(e.getKey(), e.getValue(), t, groupSize);
                }
            }
            assertRowsDotAsDequantized(model.tensor("blk.1.ffn_down.weight"));
            assertRowsDotAsDequantized(model.tensor("blk.4.attn_q.weight"));
        }
        // An unshared classifier: the negated embedding (int8 values negated, scales kept), appended.
        try (ModelFile model = Llama2cLoader.load(write("v2-unshared.bin", Stories260K.withNegatedClassifier(2)))) {
            assertEquals(1 + 9 * LAYERS + 2, model.tensors().size());
            float[] embedding = model.tensor("token_embd.weight").toFloatArray();
            float[] classifier = model.tensor("output.weight").toFloatArray();
            for (int i = 0; i < embedding.length; i++) {
                assertTrue(classifier[i] == -embedding[i], "at " + i); // == : a zero quant gives +0.0 either way
            }
        }
    }

    /**
     * Each row's dot product (also rows that start and end inside a group) against a float64 sum of the dequantized
     * row: the kernel sums each group's stretch in float (at most 64 terms), scales it, and adds up at most four
     * stretches, so its error is below (64 + 4) * 2^-24 * sum|w_i x_i| (the usual n·u bound of recursive summation).
     */
    private static void assertRowsDotAsDequantized(Tensor t) {
        int n = t.rowLength();
        float[] x = new float[n];
        java.util.Random random = new java.util.Random(5);
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] row = new float[n];
        for (int r = 0; r < t.rowCount(); r++) {
            t.dequantizeRow(r, row, 0);
            double exact = 0;
            double magnitude = 0;
            for (int i = 0; i < n; i++) {
                exact += (double) row[i] * x[i];
                magnitude += Math.abs((double) row[i] * x[i]);
            }
            double bound = (64 + 4) * Math.ulp(1.0f) / 2 * magnitude;
            assertEquals(exact, t.dotRow(r, x, 0), bound, t.name() + " row " + r);
        }
    }

    // ---- bad input ----

    @Test
    void missingFileAndDirectory() throws IOException {
        assertFails(dir.resolve("nope.bin"), "no such file");
        Path sub = Files.createDirectory(dir.resolve("adir.bin"));
        assertFails(sub, "not a regular file");
        assertFalse(Llama2cLoader.looksLikeLlama2c(dir.resolve("nope.bin")));
        assertFalse(Llama2cLoader.looksLikeLlama2c(sub));
    }

    @Test
    void truncatedAndOverlongLegacyFile() throws IOException {
        byte[] full = Stories260K.legacyBytes();
        Path cut = write("cut.bin", Arrays.copyOf(full, full.length - 100));
        String message = assertFails(cut, "truncated");
        assertTrue(message.contains(String.valueOf(full.length - 100)) && message.contains(String.valueOf(full.length)),
                message);
        assertFalse(Llama2cLoader.looksLikeLlama2c(cut));

        Path longer = write("long.bin", Arrays.copyOf(full, full.length + 8));
        message = assertFails(longer, "8 more than");
        assertTrue(message.contains(String.valueOf(full.length)), message);
        assertFalse(Llama2cLoader.looksLikeLlama2c(longer));

        assertFails(write("tiny.bin", new byte[10]), "shorter than the 28-byte");
        assertFails(write("empty.bin", new byte[0]), "shorter than the 28-byte");
    }

    @Test
    void legacyClassifierFlagMustMatchSize() throws IOException {
        Map<String, float[]> w = Stories260K.weights();
        byte[] unshared = Stories260K.legacy(w, Stories260K.distinctClassifier(w));
        ByteBuffer.wrap(unshared).order(ByteOrder.LITTLE_ENDIAN).putInt(20, VOCAB); // claims shared
        assertFails(write("flag.bin", unshared), "negative vocab_size");
    }

    @Test
    void truncatedExportFiles() throws IOException {
        byte[] v1 = Stories260K.exportBytes(1);
        String message = assertFails(write("v1cut.bin", Arrays.copyOf(v1, v1.length - 4)), "truncated");
        assertTrue(message.contains(String.valueOf(v1.length)) && message.contains(String.valueOf(v1.length - 4)),
                message);
        byte[] v2 = Stories260K.exportBytes(2);
        message = assertFails(write("v2cut.bin", Arrays.copyOf(v2, v2.length - 1)), "truncated");
        assertTrue(message.contains(String.valueOf(v2.length)), message);
        assertFails(write("v2head.bin", Arrays.copyOf(v2, 100)), "shorter than the 256-byte");
        // A flag that announces a classifier the file does not hold.
        byte[] unshared = v2.clone();
        unshared[36] = 0;
        assertFails(write("v2flag.bin", unshared), "truncated");
    }

    @Test
    void implausibleLegacyHeaders() throws IOException {
        assertFails(legacyHeader("dim0.bin", 0, 172, 5, 8, 4, 512, 512), "dim = 0");
        assertFails(legacyHeader("dimneg.bin", -64, 172, 5, 8, 4, 512, 512), "dim = -64");
        assertFails(legacyHeader("dimhuge.bin", 1 << 30, 172, 5, 8, 4, 512, 512), "dim = 1073741824");
        assertFails(legacyHeader("hidden.bin", 64, 0, 5, 8, 4, 512, 512), "hidden_dim = 0");
        assertFails(legacyHeader("layers.bin", 64, 172, -1, 8, 4, 512, 512), "n_layers = -1");
        assertFails(legacyHeader("heads0.bin", 64, 172, 5, 0, 4, 512, 512), "n_heads = 0");
        assertFails(legacyHeader("kv0.bin", 64, 172, 5, 8, 0, 512, 512), "n_kv_heads = 0");
        assertFails(legacyHeader("vocab0.bin", 64, 172, 5, 8, 4, 0, 512), "vocab_size = 0");
        assertFails(legacyHeader("vocabmin.bin", 64, 172, 5, 8, 4, Integer.MIN_VALUE, 512), "vocab_size = -2147483648");
        assertFails(legacyHeader("seq.bin", 64, 172, 5, 8, 4, 512, 0), "seq_len = 0");
        assertFails(legacyHeader("heads.bin", 64, 172, 5, 6, 3, 512, 512), "dim 64 is not divisible by n_heads 6");
        assertFails(legacyHeader("kv.bin", 64, 172, 5, 8, 3, 512, 512), "n_heads 8 is not divisible by n_kv_heads 3");
        assertFails(legacyHeader("odd.bin", 48, 172, 5, 16, 4, 512, 512), "odd");
        Path gguf = Stories260K.shared().resolve("models/stories260K.gguf");
        assertFails(gguf, "invalid llama2.c legacy header");
        assertFalse(Llama2cLoader.looksLikeLlama2c(gguf));
        assertFalse(Llama2cLoader.looksLikeLlama2c(Stories260K.shared().resolve("models/tok512.bin")));
    }

    @Test
    void badExportHeaders() throws IOException {
        assertFails(exportHeader("v3.bin", 3, 64, 512, 1, 64), "unsupported llama2.c export version 3 (expected 1 or 2)");
        assertFails(exportHeader("v0.bin", 0, 64, 512, 1, 64), "version 0");
        assertTrue(Llama2cLoader.looksLikeLlama2c(dir.resolve("v3.bin")), "the magic identifies the format");
        assertFails(exportHeader("gs48.bin", 2, 64, 512, 1, 48), "group_size 48 does not divide dim 64");
        assertFails(exportHeader("gs0.bin", 2, 64, 512, 1, 0), "group_size = 0");
        assertFails(exportHeader("flag.bin", 1, 64, 512, 7, 0), "shared_classifier flag is 7");
        assertFails(exportHeader("vneg.bin", 1, 64, -512, 0, 0), "vocab_size = -512");
        assertFails(exportHeader("v1dim.bin", 1, 63, 512, 1, 0), "dim 63 is not divisible by n_heads 8");
    }

    // ---- helpers ----

    private static void assertBitExact(Map<String, float[]> expected, ModelFile model) {
        for (Map.Entry<String, float[]> e : expected.entrySet()) {
            Tensor t = model.tensor(e.getKey());
            assertEquals(GgmlType.F32, t.type(), e.getKey());
            assertEquals(e.getValue().length, t.elementCount(), e.getKey());
            assertArrayEquals(bits(e.getValue()), bits(t.toFloatArray()), e.getKey());
        }
    }

    /** Dequantized values are exactly export.py's q * scale, and within half a step of the original. */
    private static void assertQuantized(String name, float[] original, Tensor t, int groupSize) {
        assertEquals(original.length, t.elementCount(), name);
        assertEquals(original.length + original.length / groupSize * 4L, t.byteSize(), name);
        float[] values = new float[original.length];
        for (int r = 0; r < t.rowCount(); r++) {
            t.dequantizeRow(r, values, r * t.rowLength()); // row by row, as the forward pass reads it
        }
        for (int g = 0; g < original.length / groupSize; g++) {
            float scale = Stories260K.scaleOf(original, g * groupSize, groupSize);
            for (int i = g * groupSize; i < (g + 1) * groupSize; i++) {
                float exact = Stories260K.quantize(original[i], scale) * scale;
                assertEquals(Float.floatToRawIntBits(exact), Float.floatToRawIntBits(values[i]), name + "[" + i + "]");
                assertTrue(Math.abs(values[i] - original[i]) <= scale * 0.5f * 1.0001f,
                        name + "[" + i + "]: " + values[i] + " vs " + original[i]);
            }
        }
    }

    private static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    private Path legacyHeader(String name, int... fields) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        for (int f : fields) {
            b.putInt(f);
        }
        return write(name, b.array());
    }

    private Path exportHeader(String name, int version, int dim, int vocab, int shared, int groupSize)
            throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x616b3432).putInt(version).putInt(dim).putInt(HIDDEN).putInt(LAYERS).putInt(8).putInt(4)
                .putInt(vocab).putInt(512).put((byte) shared).putInt(groupSize);
        return write(name, b.array());
    }

    private static String assertFails(Path path, String expectedPart) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2cLoader.load(path).close());
        String message = e.getMessage();
        assertTrue(message.contains(path.getFileName().toString()), "message names the file: " + message);
        assertTrue(message.contains(expectedPart), "expected '" + expectedPart + "' in: " + message);
        assertFalse(message.contains("\n"), "one line: " + message);
        return message;
    }
}
