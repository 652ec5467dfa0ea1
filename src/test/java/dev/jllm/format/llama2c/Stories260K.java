package dev.jllm.format.llama2c;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The TinyStories 260K model of {@code ../shared/models/stories260K.bin}, read straight from the file's bytes by test
 * code (an oracle independent of {@link Llama2cLoader}), a writer of run.c's legacy layout (for variants such as an
 * unshared classifier), and the files llama2.c's own export.py wrote from the same weights.
 */
public final class Stories260K {

    public static final int DIM = 64;
    public static final int HIDDEN = 172;
    public static final int LAYERS = 5;
    public static final int HEADS = 8;
    public static final int KV_HEADS = 4;
    public static final int VOCAB = 512;
    public static final int SEQ_LEN = 512;
    public static final int HEAD_DIM = DIM / HEADS;
    public static final int KV_DIM = KV_HEADS * HEAD_DIM;

    private Stories260K() {
    }

    /** The shared test-data folder; fails the test loudly when it is missing. */
    public static Path shared() {
        Path shared = Path.of(System.getProperty("user.dir")).resolve("../shared").normalize();
        if (!Files.isDirectory(shared.resolve("models"))) {
            fail("shared test data missing: expected " + shared + "/models (see the project README)");
        }
        return shared;
    }

    public static Path legacyFile() {
        Path p = shared().resolve("models/stories260K.bin");
        if (!Files.isRegularFile(p)) {
            fail("shared test model missing: " + p);
        }
        return p;
    }

    public static byte[] legacyBytes() {
        try {
            return Files.readAllBytes(legacyFile());
        } catch (IOException e) {
            throw new AssertionError("cannot read " + legacyFile(), e);
        }
    }

    /** The weights under their canonical names, each as the row-major float array llama2.c stores. */
    public static Map<String, float[]> weights() {
        ByteBuffer b = ByteBuffer.wrap(legacyBytes()).order(ByteOrder.LITTLE_ENDIAN);
        b.position(28);
        Map<String, float[]> w = new LinkedHashMap<>();
        w.put("token_embd.weight", floats(b, VOCAB * DIM));
        stacked(b, w, "attn_norm.weight", DIM);
        stacked(b, w, "attn_q.weight", DIM * DIM);
        stacked(b, w, "attn_k.weight", KV_DIM * DIM);
        stacked(b, w, "attn_v.weight", KV_DIM * DIM);
        stacked(b, w, "attn_output.weight", DIM * DIM);
        stacked(b, w, "ffn_norm.weight", DIM);
        stacked(b, w, "ffn_gate.weight", HIDDEN * DIM);
        stacked(b, w, "ffn_down.weight", DIM * HIDDEN);
        stacked(b, w, "ffn_up.weight", HIDDEN * DIM);
        w.put("output_norm.weight", floats(b, DIM));
        floats(b, 2 * SEQ_LEN * HEAD_DIM / 2); // freq_cis_real, freq_cis_imag
        if (b.hasRemaining()) {
            fail("stories260K.bin has " + b.remaining() + " unexpected trailing bytes");
        }
        return w;
    }

    /** A classifier different from the embedding, for unshared-classifier files. */
    public static float[] distinctClassifier(Map<String, float[]> w) {
        float[] e = w.get("token_embd.weight");
        float[] c = new float[e.length];
        for (int i = 0; i < e.length; i++) {
            c[i] = -0.5f * e[i] + 0.001f * (i % 7);
        }
        return c;
    }

    private static void stacked(ByteBuffer b, Map<String, float[]> w, String name, int each) {
        for (int l = 0; l < LAYERS; l++) {
            w.put("blk." + l + "." + name, floats(b, each));
        }
    }

    private static float[] floats(ByteBuffer b, int n) {
        float[] f = new float[n];
        b.asFloatBuffer().get(f);
        b.position(b.position() + 4 * n);
        return f;
    }

    // ---- run.c's legacy layout, and export.py's files ----

    /** A legacy file; {@code classifier} null means shared (positive vocab_size). */
    public static byte[] legacy(Map<String, float[]> w, float[] classifier) {
        Out out = new Out();
        out.ints(DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, classifier == null ? VOCAB : -VOCAB, SEQ_LEN);
        out.floats(w.get("token_embd.weight"));
        for (String name : new String[] {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
            "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_down.weight", "ffn_up.weight"}) {
            perLayer(out, w, name);
        }
        out.floats(w.get("output_norm.weight"));
        float[] cos = new float[SEQ_LEN * HEAD_DIM / 2];
        float[] sin = new float[cos.length];
        for (int pos = 0; pos < SEQ_LEN; pos++) {
            for (int i = 0; i < HEAD_DIM / 2; i++) {
                double angle = pos / Math.pow(10000, 2.0 * i / HEAD_DIM);
                cos[pos * HEAD_DIM / 2 + i] = (float) Math.cos(angle);
                sin[pos * HEAD_DIM / 2 + i] = (float) Math.sin(angle);
            }
        }
        out.floats(cos);
        out.floats(sin);
        if (classifier != null) {
            out.floats(classifier);
        }
        return out.bytes();
    }

    /** llama2.c's export.py output from the same weights, version 1 (fp32) or 2 (int8 in groups of 64). */
    public static Path exportFile(int version) {
        Path p = shared().resolve("models/llama2c-export/stories260K-v" + version + ".bin");
        if (!Files.isRegularFile(p)) {
            fail("shared test model missing: " + p);
        }
        return p;
    }

    public static byte[] exportBytes(int version) {
        try {
            return Files.readAllBytes(exportFile(version));
        } catch (IOException e) {
            throw new AssertionError("cannot read " + exportFile(version), e);
        }
    }

    /**
     * An export file with an unshared classifier, made from export.py's file: the flag cleared at byte 36 and, after
     * the last tensor (where export.py writes the classifier), the embedding with every value negated (for version 2
     * its int8 values negated, scales kept; export.py's int8 values lie in -127..127, so none overflows).
     */
    public static byte[] withNegatedClassifier(int version) {
        byte[] file = exportBytes(version);
        int embeddingStart = 256 + (2 * LAYERS + 1) * DIM * 4;
        int values = VOCAB * DIM;
        int embeddingBytes = version == 1 ? values * 4 : values + values / 64 * 4;
        byte[] out = java.util.Arrays.copyOf(file, file.length + embeddingBytes);
        out[36] = 0;
        ByteBuffer source = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer target = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values; i++) {
            if (version == 1) {
                target.putFloat(file.length + 4 * i, -source.getFloat(embeddingStart + 4 * i));
            } else {
                out[file.length + i] = (byte) -file[embeddingStart + i];
            }
        }
        if (version == 2) {
            System.arraycopy(file, embeddingStart + values, out, file.length + values, values / 64 * 4);
        }
        return out;
    }

    /** export.py's quantize_q80 for one group: scale = max|w| / 127, q = round(w / scale). */
    public static float scaleOf(float[] w, int first, int groupSize) {
        float max = 0f;
        for (int i = first; i < first + groupSize; i++) {
            max = Math.max(max, Math.abs(w[i]));
        }
        return max / 127.0f;
    }

    public static byte quantize(float value, float scale) {
        return scale == 0f ? 0 : (byte) Math.rint(value / scale);
    }

    private static void perLayer(Out out, Map<String, float[]> w, String name) {
        for (int l = 0; l < LAYERS; l++) {
            out.floats(w.get("blk." + l + "." + name));
        }
    }

    private static final class Out {
        final ByteBuffer buffer = ByteBuffer.allocate(4 << 20).order(ByteOrder.LITTLE_ENDIAN);

        void ints(int... values) {
            for (int v : values) {
                buffer.putInt(v);
            }
        }

        void floats(float[] values) {
            for (float v : values) {
                buffer.putFloat(v);
            }
        }

        byte[] bytes() {
            byte[] b = new byte[buffer.position()];
            buffer.get(0, b);
            return b;
        }
    }
}
