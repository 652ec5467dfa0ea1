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
 * code (an oracle independent of {@link Llama2cLoader}), plus small writers of the other llama2.c versions that
 * follow export.py's layouts.
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

    // ---- writers following run.c / export.py ----

    private static final String[] MATRICES = {
        "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
        "ffn_gate.weight", "ffn_down.weight", "ffn_up.weight"};

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

    /** export.py version1_export; {@code classifier} null means shared. */
    public static byte[] version1(Map<String, float[]> w, float[] classifier) {
        Out out = exportHeader(1, classifier == null, 0);
        norms(out, w);
        out.floats(w.get("token_embd.weight"));
        for (String name : MATRICES) {
            perLayer(out, w, name);
        }
        if (classifier != null) {
            out.floats(classifier);
        }
        return out.bytes();
    }

    /** export.py version2_export (int8 then scales, per tensor); {@code classifier} null means shared. */
    public static byte[] version2(Map<String, float[]> w, float[] classifier, int groupSize) {
        Out out = exportHeader(2, classifier == null, groupSize);
        norms(out, w);
        out.quantized(w.get("token_embd.weight"), groupSize);
        for (String name : MATRICES) {
            for (int l = 0; l < LAYERS; l++) {
                out.quantized(w.get("blk." + l + "." + name), groupSize);
            }
        }
        if (classifier != null) {
            out.quantized(classifier, groupSize);
        }
        return out.bytes();
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

    private static Out exportHeader(int version, boolean shared, int groupSize) {
        Out out = new Out();
        out.ints(0x616b3432, version, DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ_LEN);
        out.buffer.put((byte) (shared ? 1 : 0));
        if (version == 2) {
            out.ints(groupSize);
        }
        out.buffer.position(256);
        return out;
    }

    private static void norms(Out out, Map<String, float[]> w) {
        perLayer(out, w, "attn_norm.weight");
        perLayer(out, w, "ffn_norm.weight");
        out.floats(w.get("output_norm.weight"));
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

        void quantized(float[] values, int groupSize) {
            float[] scales = new float[values.length / groupSize];
            for (int g = 0; g < scales.length; g++) {
                scales[g] = scaleOf(values, g * groupSize, groupSize);
                for (int i = g * groupSize; i < (g + 1) * groupSize; i++) {
                    buffer.put(quantize(values[i], scales[g]));
                }
            }
            floats(scales);
        }

        byte[] bytes() {
            byte[] b = new byte[buffer.position()];
            buffer.get(0, b);
            return b;
        }
    }
}
