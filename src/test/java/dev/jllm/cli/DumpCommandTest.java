package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import dev.jllm.dump.ArrayFile;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.model.KvCache;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.io.SafeNames;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jllm dump}: Q, K and V of layer 0 recomputed with plain loops from the dumped weights and activations match
 * jllm's q/k/v dump, for a GGUF model (interleaved RoPE, CSV) and a Hugging Face directory (rotate-half, .npy); so do
 * the attention, its output, the feed-forward output, the residual stream of every layer and the logits (which are
 * also the engine's own).
 */
class DumpCommandTest {

    @TempDir
    Path dir;

    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void ggufLayer0RecomputesFromTheDumps() throws IOException {
        String model = SharedData.model("stories260K-f32.gguf").toString();
        Path weights = dir.resolve("w");
        Path acts = dir.resolve("a");
        CliTest.Result r = CliTest.run("dump", "weights", "-m", model, "-o", weights.toString(), "--filter", "^blk\\.0\\.");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(weights.resolve("blk.0.attn_q.weight.csv")));
        try (Stream<Path> s = Files.list(weights)) {
            assertEquals(18, s.count(), "9 tensors of layer 0, each with its JSON");
        }
        r = CliTest.run("dump", "activations", "-m", model, "-p", "Once upon a time", "-o", acts.toString());
        assertEquals(0, r.code(), r.err());
        recompute(weights, acts, ArrayFile.CSV, "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                "blk.0.attn_v.weight", false);
    }

    /**
     * Beyond Q/K/V: layer 0's attention (causal softmax over the dumped q and k, grouped-query heads, weighting v), its
     * output projection and feed-forward block, recomputed in float64 from the dumped weights; every layer's input as
     * the previous one's plus its attention and feed-forward outputs; and the logits as the output projection of the
     * final RMSNorm, which are also bit for bit what {@link Session#appendAll} returns for the prompt (float32 cache,
     * as the dump runs).
     */
    @Test
    void everyActivationRecomputesFromTheDumps() throws IOException {
        Path model = SharedData.model("stories260K-f32.gguf");
        Path weights = dir.resolve("w");
        Path acts = dir.resolve("a");
        assertEquals(0, CliTest.run("dump", "weights", "-m", model.toString(), "-o", weights.toString(), "--format",
                "npy").code());
        CliTest.Result r = CliTest.run("dump", "activations", "-m", model.toString(), "-p", "Once upon a time", "-o",
                acts.toString(), "--format", "npy");
        assertEquals(0, r.code(), r.err());
        ArrayFile f = ArrayFile.NPY;
        JsonNode meta = JSON.readTree(acts.resolve("meta_layer0.json").toFile());
        int dim = meta.path("d_model").asInt();
        int heads = meta.path("num_heads").asInt();
        int kvHeads = meta.path("num_kv_heads").asInt();
        int headDim = meta.path("head_dim").asInt();
        int n = meta.path("seq_len").asInt();
        double eps = meta.path("rms_norm_eps").asDouble();
        assertEquals("f32", meta.path("kv_cache").asText());

        float[] q = f.read(acts.resolve("q_layer0.npy"));
        float[] k = f.read(acts.resolve("k_layer0.npy"));
        float[] v = f.read(acts.resolve("v_layer0.npy"));
        float[] attn = new float[n * heads * headDim];
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                int kv = h / (heads / kvHeads);
                double[] scores = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= t; j++) {
                    double dot = 0;
                    for (int i = 0; i < headDim; i++) {
                        dot += (double) q[(t * heads + h) * headDim + i] * k[(j * kvHeads + kv) * headDim + i];
                    }
                    scores[j] = dot / Math.sqrt(headDim);
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int i = 0; i < headDim; i++) {
                    double out = 0;
                    for (int j = 0; j <= t; j++) {
                        out += scores[j] / sum * v[(j * kvHeads + kv) * headDim + i];
                    }
                    attn[(t * heads + h) * headDim + i] = (float) out;
                }
            }
        }
        float[] dumpedAttn = f.read(acts.resolve("attn_layer0.npy"));
        assertClose(dumpedAttn, attn, 1e-5, "attn");
        float[] attnOut = product(f.read(weights.resolve("blk.0.attn_output.weight.npy")), dumpedAttn, n, dim);
        float[] dumpedAttnOut = f.read(acts.resolve("attn_out_layer0.npy"));
        assertClose(dumpedAttnOut, attnOut, 1e-5, "attn_out");

        float[] x = f.read(acts.resolve("x_layer0.npy"));
        float[] residual = new float[n * dim];
        for (int i = 0; i < residual.length; i++) {
            residual[i] = x[i] + dumpedAttnOut[i];
        }
        float[] ffnIn = rmsNorm(residual, f.read(weights.resolve("blk.0.ffn_norm.weight.npy")), n, dim, eps);
        float[] gate = product(f.read(weights.resolve("blk.0.ffn_gate.weight.npy")), ffnIn, n, -1);
        float[] up = product(f.read(weights.resolve("blk.0.ffn_up.weight.npy")), ffnIn, n, -1);
        for (int i = 0; i < gate.length; i++) {
            gate[i] = (float) (gate[i] / (1 + Math.exp(-gate[i])) * up[i]);
        }
        assertClose(f.read(acts.resolve("ffn_out_layer0.npy")),
                product(f.read(weights.resolve("blk.0.ffn_down.weight.npy")), gate, n, dim), 1e-5, "ffn_out");

        // The residual stream: each layer's input is the previous input plus its attention and feed-forward outputs.
        int layers = 0;
        while (Files.exists(acts.resolve("meta_layer" + layers + ".json"))) {
            layers++;
        }
        assertEquals(5, layers);
        float[] stream = null;
        for (int l = 0; l < layers; l++) {
            float[] in = f.read(acts.resolve("x_layer" + l + ".npy"));
            if (stream != null) {
                assertClose(in, stream, 1e-6, "x_layer" + l);
            }
            float[] a = f.read(acts.resolve("attn_out_layer" + l + ".npy"));
            float[] m = f.read(acts.resolve("ffn_out_layer" + l + ".npy"));
            stream = new float[in.length];
            for (int i = 0; i < in.length; i++) {
                stream[i] = in[i] + a[i] + m[i];
            }
        }
        float[] output = Files.exists(weights.resolve("output.weight.npy")) ? f.read(weights.resolve("output.weight.npy"))
                : f.read(weights.resolve("token_embd.weight.npy"));
        float[] logits = f.read(acts.resolve("logits.npy"));
        assertClose(logits, product(output, rmsNorm(stream, f.read(weights.resolve("output_norm.weight.npy")), n, dim,
                eps), n, -1), 1e-5, "logits");

        int[] ids = java.util.Arrays.stream(f.readIntegers(acts.resolve("input_ids.npy"))).mapToInt(Math::toIntExact)
                .toArray();
        try (Model m = Model.load(model, null)) {
            float[] session = m.newSession(SessionOptions.defaults(n).withCacheType(KvCache.Type.F32)).appendAll(ids);
            assertEquals(session.length, logits.length);
            for (int i = 0; i < logits.length; i++) {
                assertEquals(Float.floatToIntBits(session[i]), Float.floatToIntBits(logits[i]), "logit " + i);
            }
        }
    }

    /** {@code y[t] = W x[t]} for a row-major W of {@code x}'s width columns; {@code rows} -1: as many as W holds. */
    private static float[] product(float[] w, float[] x, int n, int rows) {
        int cols = x.length / n;
        int r = rows < 0 ? w.length / cols : rows;
        assertEquals(r * cols, w.length, "weight size");
        float[] y = new float[n * r];
        for (int t = 0; t < n; t++) {
            for (int row = 0; row < r; row++) {
                double sum = 0;
                for (int i = 0; i < cols; i++) {
                    sum += (double) w[row * cols + i] * x[t * cols + i];
                }
                y[t * r + row] = (float) sum;
            }
        }
        return y;
    }

    private static float[] rmsNorm(float[] x, float[] gamma, int n, int dim, double eps) {
        float[] out = new float[x.length];
        for (int t = 0; t < n; t++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                ss += (double) x[t * dim + i] * x[t * dim + i];
            }
            double inv = 1 / Math.sqrt(ss / dim + eps);
            for (int i = 0; i < dim; i++) {
                out[t * dim + i] = (float) (gamma[i] * x[t * dim + i] * inv);
            }
        }
        return out;
    }

    @Test
    void hfLayer0RecomputesFromTheDumps() throws IOException {
        Path hf = dir.resolve("hf");
        assertEquals(0, CliTest.run("convert", SharedData.model("stories260K-f32.gguf").toString(), "-o", hf.toString(),
                "--to", "hf").code());
        Path weights = dir.resolve("w");
        Path acts = dir.resolve("a");
        CliTest.Result r = CliTest.run("dump", "weights", "-m", hf.toString(), "-o", weights.toString(), "--filter",
                "layers\\.0\\.", "--format", "npy");
        assertEquals(0, r.code(), r.err());
        r = CliTest.run("dump", "activations", "-m", hf.toString(), "-p", "Once upon a time", "-o", acts.toString(),
                "--format", "npy");
        assertEquals(0, r.code(), r.err());
        recompute(weights, acts, ArrayFile.NPY, "model.layers.0.input_layernorm.weight",
                "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                "model.layers.0.self_attn.v_proj.weight", true);
    }

    /** input_ids.npy holds int64 token ids, as transformers' input_ids (issue 14, item 13), not float32. */
    @Test
    void inputIdsAreIntegers() throws IOException {
        Path acts = dir.resolve("a");
        String model = SharedData.model("stories260K-f32.gguf").toString();
        CliTest.Result r = CliTest.run("dump", "activations", "-m", model, "-p", "Once upon a time", "-o", acts.toString(),
                "--format", "npy");
        assertEquals(0, r.code(), r.err());
        byte[] npy = Files.readAllBytes(acts.resolve("input_ids.npy"));
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(npy).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int dataStart = 10 + (b.getShort(8) & 0xffff);
        String header = new String(npy, 10, dataStart - 10, java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(header.contains("'descr': '<i8'") && header.contains("'shape': (5,)"), header);
        CliTest.Result ids = CliTest.run("tokenize", "-m", model, "-p", "Once upon a time", "--ids");
        long[] dumped = new long[(npy.length - dataStart) / 8];
        b.position(dataStart);
        b.slice().order(java.nio.ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(dumped);
        assertEquals(ids.out().strip(), java.util.Arrays.toString(dumped), "the prompt's token ids");
        CliTest.Result csv = CliTest.run("dump", "activations", "-m", model, "-p", "Once upon a time", "-o",
                dir.resolve("c").toString());
        assertEquals(0, csv.code(), csv.err());
        assertEquals(ids.out().strip().replace(" ", "").replace("[", "").replace("]", ""),
                Files.readString(dir.resolve("c").resolve("input_ids.csv")).strip(), "integers, not 1.0, 15043.0, ...");
    }

    @Test
    void existingOutputIsRefused() throws IOException {
        Files.writeString(dir.resolve("keep.txt"), "x");
        CliTest.Result r = CliTest.run("dump", "weights", "-m", SharedData.model("stories260K-f32.gguf").toString(),
                "-o", dir.toString());
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("it exists"), r.err());
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("keep.txt")), s.toList());
        }
    }

    /**
     * Issue 18, item 1: a model file whose tensor names are paths ({@code ../../escaped_rel}, an absolute path to a
     * file of the user's) is dumped inside the output folder only, under escaped names, and nothing else is touched.
     */
    @Test
    void tensorNamesFromTheFileNeverBecomePathsOutsideTheOutput() throws IOException {
        Path victim = dir.resolve("x/victim.json");
        Files.createDirectories(victim.getParent());
        Files.writeString(victim, "the user's file");
        String absolute = dir.resolve("x/victim").toString();
        String[] hostile = {"../../escaped_rel", absolute, "..", "a/../../b", "name\u001b[2J\u0007", "%2E%2E"};
        Path evil = dir.resolve("evil.gguf");
        try (GgufFile base = GgufReader.read(SharedData.model("stories260K-f32.gguf"))) {
            GgufWriter w = GgufWriter.copyOf(base);
            for (String name : hostile) {
                w.addTensor(name, GgmlType.F32, new long[] {4}, sink -> sink.write(ByteBuffer.allocate(16)));
            }
            w.write(evil, null);
        }
        Path out = dir.resolve("a/b/out");
        Files.createDirectories(out.getParent());
        List<Path> before = tree(dir);

        CliTest.Result r = CliTest.run("dump", "weights", "-m", evil.toString(), "-o", out.toString(), "--filter",
                "escaped|victim|^\\.\\.$|/|%|name");
        assertEquals(0, r.code(), r.err());
        assertEquals("the user's file", Files.readString(victim));
        List<Path> created = new java.util.ArrayList<>(tree(dir));
        created.removeAll(before);
        for (Path p : created) {
            assertTrue(p.equals(out) || out.equals(p.getParent()), "written outside the output folder: " + p);
        }
        java.util.Set<String> names = new java.util.TreeSet<>();
        for (String name : hostile) {
            String file = SafeNames.fileName(name);
            assertTrue(Files.isRegularFile(out.resolve(file + ".csv")), file);
            assertEquals(name, JSON.readTree(out.resolve(file + ".json").toFile()).path("gguf_name").asText());
            names.add(file);
        }
        assertEquals(hostile.length, names.size(), "one file per tensor: the escaping keeps names apart");
        assertEquals(2 * hostile.length, created.size() - 1, created.toString());
    }

    private static List<Path> tree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.sorted().toList();
        }
    }

    private static int[] shape(Path json) throws IOException {
        JsonNode node = JSON.readTree(json.toFile()).path("shape");
        int[] s = new int[node.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = node.get(i).asInt();
        }
        return s;
    }

    private static void recompute(Path weights, Path acts, ArrayFile f, String norm, String wq, String wk, String wv,
            boolean rotateHalf) throws IOException {
        String ext = "." + f.extension;
        JsonNode meta = JSON.readTree(acts.resolve("meta_layer0.json").toFile());
        int dim = meta.path("d_model").asInt();
        int headDim = meta.path("head_dim").asInt();
        int n = meta.path("seq_len").asInt();
        double theta = meta.path("rope_theta").asDouble();
        double eps = meta.path("rms_norm_eps").asDouble();
        assertEquals(rotateHalf ? "rotate_half" : "interleaved", meta.path("qk_layout").asText());
        float[] x = f.read(acts.resolve("x_layer0" + ext));
        float[] xnorm = f.read(acts.resolve("xnorm_layer0" + ext));
        long[] positionIds = f.readIntegers(acts.resolve("position_ids" + ext));
        float[] positions = new float[positionIds.length];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = positionIds[i];
        }
        assertEquals(n * dim, x.length);

        // RMSNorm of the layer input reproduces xnorm
        float[] mine = rmsNorm(x, f.read(weights.resolve(norm + ext)), n, dim, eps);
        assertClose(xnorm, mine, 1e-5, "xnorm");

        String[] names = {wq, wk, wv};
        String[] outs = {"q", "k", "v"};
        for (int m = 0; m < 3; m++) {
            int[] s = shape(weights.resolve(names[m] + ".json"));
            int rows = s[0];
            assertEquals(dim, s[1]);
            float[] y = product(f.read(weights.resolve(names[m] + ext)), xnorm, n, rows);
            if (m < 2) {
                rope(y, n, rows, headDim, positions, theta, rotateHalf);
            }
            assertClose(f.read(acts.resolve(outs[m] + "_layer0" + ext)), y, 1e-5, outs[m]);
        }
    }

    /** RoPE with frequencies theta^(-2i/headDim): on pairs (2i, 2i+1), or on (i, i + headDim/2) for rotate-half. */
    private static void rope(float[] y, int n, int width, int headDim, float[] positions, double theta,
            boolean rotateHalf) {
        int half = headDim / 2;
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < width / headDim; h++) {
                int base = t * width + h * headDim;
                for (int i = 0; i < half; i++) {
                    double angle = positions[t] * Math.pow(theta, -2.0 * i / headDim);
                    int a = rotateHalf ? base + i : base + 2 * i;
                    int b = rotateHalf ? base + i + half : base + 2 * i + 1;
                    double va = y[a];
                    double vb = y[b];
                    y[a] = (float) (va * Math.cos(angle) - vb * Math.sin(angle));
                    y[b] = (float) (va * Math.sin(angle) + vb * Math.cos(angle));
                }
            }
        }
    }

    private static void assertClose(float[] expected, float[] actual, double relative, String what) {
        assertEquals(expected.length, actual.length, what);
        double maxAbs = 0;
        double maxDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(maxDiff <= relative * maxAbs, what + ": max difference " + maxDiff + " of max " + maxAbs);
    }
}
