package dev.jllm.format.lumi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import dev.jllm.quant.Halfs;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.Tokenizer;
import dev.jllm.tokenizer.TokenizerFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The lumi layouts convert.py has written, made here as its export_lumi writes them (the shared stories260K.lmw is
 * the second layout, from the real convert.py): the earliest (float32, untransposed, no tokenizer), the model-name one
 * with bfloat16 weights, and a Llama 3 file (model version 3) whose embedded tokenizer.model is tiktoken's.
 */
class LumiLoaderTest {

    @TempDir
    Path dir;

    /** A tensor to write: PyTorch sizes and row-major values. */
    record Weight(long[] size, float[] values) {
    }

    /** convert.py's export_lumi for any of the three layouts. */
    static byte[] lumi(LumiLoader.Layout layout, int modelVersion, String modelName, int[] ints, float theta,
            float eps, byte[] tokenizer, Map<String, Weight> weights, boolean bf16) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(le(8).putInt(LumiLoader.MAGIC).putInt(1).array());
        if (layout == LumiLoader.Layout.MODEL_VERSION) {
            out.writeBytes(le(4).putInt(modelVersion).array());
        } else if (layout == LumiLoader.Layout.MODEL_NAME) {
            padded(out, modelName);
        }
        ByteBuffer p = le(36);
        for (int v : ints) {
            p.putInt(v);
        }
        out.writeBytes(p.putFloat(theta).putFloat(eps).array());
        if (layout != LumiLoader.Layout.PLAIN) {
            out.writeBytes(le(4).putInt(tokenizer.length).array());
            out.writeBytes(tokenizer);
            out.writeBytes(new byte[4 - tokenizer.length % 4]);
        }
        for (Map.Entry<String, Weight> e : weights.entrySet()) {
            padded(out, e.getKey());
            long[] size = e.getValue().size();
            ByteBuffer shape = le(4 + 4 * size.length).putInt(size.length);
            for (long s : size) {
                shape.putInt((int) s);
            }
            out.writeBytes(shape.array());
            float[] v = e.getValue().values();
            boolean transposed = false;
            if (layout != LumiLoader.Layout.PLAIN) {
                transposed = e.getKey().endsWith(".weight") && !e.getKey().equals("tok_embeddings.weight")
                        && size.length == 2;
                out.writeBytes(le(8).putInt(transposed ? 1 : 0).putInt(bf16 ? 117 : 132).array());
            }
            if (transposed) {
                int rows = (int) size[0];
                int cols = (int) size[1];
                float[] t = new float[v.length];
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        t[c * rows + r] = v[r * cols + c];
                    }
                }
                v = t;
            }
            ByteBuffer data = le(v.length * (bf16 ? 2 : 4));
            for (float f : v) {
                if (bf16) {
                    data.putShort(Halfs.toBF16(f));
                } else {
                    data.putFloat(f);
                }
            }
            out.writeBytes(data.array());
        }
        return out.toByteArray();
    }

    private static void padded(ByteArrayOutputStream out, String s) {
        String padded = s + " ".repeat(4 - s.length() % 4);
        out.writeBytes(le(4).putInt(padded.length()).array());
        out.writeBytes(padded.getBytes(StandardCharsets.US_ASCII));
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** stories260K.bin's weights under Meta's names (the output is the embedding, as lumi writes it). */
    static Map<String, Weight> storiesWeights(ModelFile bin) {
        Map<String, Weight> m = new LinkedHashMap<>();
        m.put("tok_embeddings.weight", weight(bin.tensor("token_embd.weight")));
        String[][] names = {{"attention.wq.weight", "attn_q"}, {"attention.wk.weight", "attn_k"},
            {"attention.wv.weight", "attn_v"}, {"attention.wo.weight", "attn_output"},
            {"feed_forward.w1.weight", "ffn_gate"}, {"feed_forward.w2.weight", "ffn_down"},
            {"feed_forward.w3.weight", "ffn_up"}, {"attention_norm.weight", "attn_norm"},
            {"ffn_norm.weight", "ffn_norm"}};
        for (int l = 0; l < bin.config().layers(); l++) {
            for (String[] n : names) {
                m.put("layers." + l + "." + n[0], weight(bin.tensor("blk." + l + "." + n[1] + ".weight")));
            }
        }
        m.put("norm.weight", weight(bin.tensor("output_norm.weight")));
        m.put("output.weight", weight(bin.tensor("token_embd.weight")));
        return m;
    }

    private static Weight weight(Tensor t) {
        long[] size = new long[t.shape().length];
        for (int i = 0; i < size.length; i++) {
            size[i] = t.shape()[size.length - 1 - i];
        }
        return new Weight(size, t.toFloatArray());
    }

    static final int[] STORIES = {64, 5, 8, 4, 4, 512, 512};

    @Test
    void theEarliestLayoutLoadsWithTheTokenizerModelBesideIt() throws IOException {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            Path file = dir.resolve("plain.lmw");
            Files.write(file, lumi(LumiLoader.Layout.PLAIN, 0, null, STORIES, 10000f, 1e-5f, null,
                    storiesWeights(bin), false));
            try (ModelFile lmw = ModelLoaders.open(file)) {
                assertNull(lmw.tokenizer(), "no tokenizer in the file, none beside it");
                assertTrue(lmw.format().contains("float32, no tokenizer"), lmw.format());
                for (Map.Entry<String, Tensor> e : bin.tensors().entrySet()) {
                    assertArrayEquals(e.getValue().toFloatArray(), lmw.tensor(e.getKey()).toFloatArray(), e.getKey());
                    assertTrue(lmw.tensor(e.getKey()).data().isMapped(), "nothing transposed, all read in place");
                }
            }
            Files.copy(SharedData.model("torch/stories260K-meta/tokenizer.model"), dir.resolve("tokenizer.model"));
            try (ModelFile lmw = ModelLoaders.open(file)) {
                assertEquals(512, lmw.tokenizer().vocabSize());
            }
        }
    }

    @Test
    void theModelNameLayoutWithBfloat16Loads() throws IOException {
        byte[] tokenizer = Files.readAllBytes(SharedData.model("torch/stories260K-meta/tokenizer.model"));
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            Path file = dir.resolve("named.lmw");
            Files.write(file, lumi(LumiLoader.Layout.MODEL_NAME, 0, "stories260K", STORIES, 10000f, 1e-5f, tokenizer,
                    storiesWeights(bin), true));
            try (ModelFile lmw = ModelLoaders.open(file)) {
                assertEquals("stories260K", lmw.metadata().get("general.name"));
                for (Map.Entry<String, Tensor> e : bin.tensors().entrySet()) {
                    Tensor t = lmw.tensor(e.getKey());
                    assertEquals(GgmlType.BF16, t.type());
                    float[] expected = e.getValue().toFloatArray();
                    for (int i = 0; i < expected.length; i++) {
                        expected[i] = Float.intBitsToFloat(Halfs.toBF16(expected[i]) << 16);
                    }
                    assertArrayEquals(expected, t.toFloatArray(), e.getKey());
                }
                assertEquals(512, lmw.tokenizer().vocabSize());
            }
        }
    }

    @Test
    void aLlama3FileEmbedsTiktokensTokenizer() throws IOException {
        byte[] tiktoken = Files.readAllBytes(SharedData.file("vocab/llama3-tokenizer.model"));
        int vocab = 128256;
        int dim = 8;
        int hidden = 24; // dim 8, multiple_of 4
        Random random = new Random(7);
        Map<String, Weight> w = new LinkedHashMap<>();
        w.put("tok_embeddings.weight", random(random, vocab, dim));
        w.put("layers.0.attention.wq.weight", random(random, dim, dim));
        w.put("layers.0.attention.wk.weight", random(random, 4, dim));
        w.put("layers.0.attention.wv.weight", random(random, 4, dim));
        w.put("layers.0.attention.wo.weight", random(random, dim, dim));
        w.put("layers.0.feed_forward.w1.weight", random(random, hidden, dim));
        w.put("layers.0.feed_forward.w2.weight", random(random, dim, hidden));
        w.put("layers.0.feed_forward.w3.weight", random(random, hidden, dim));
        w.put("layers.0.attention_norm.weight", random(random, dim));
        w.put("layers.0.ffn_norm.weight", random(random, dim));
        w.put("norm.weight", random(random, dim));
        w.put("output.weight", random(random, vocab, dim));
        Path file = dir.resolve("llama3.lmw");
        Files.write(file, lumi(LumiLoader.Layout.MODEL_VERSION, 3, null, new int[] {dim, 1, 2, 1, 4, vocab, 8192},
                500000f, 1e-5f, tiktoken, w, true));
        try (ModelFile lmw = ModelLoaders.open(file)) {
            assertEquals(3, lmw.metadata().get("lumi.model_version"));
            assertEquals("gpt2", lmw.tokenizer().model());
            Tokenizer embedded = Tokenizer.from(lmw.tokenizer());
            Tokenizer shared = Tokenizer.from(TokenizerFiles.load(SharedData.file("vocab/llama3-tokenizer.model")));
            String text = "Hello world! The capital of France is Paris.";
            assertArrayEquals(shared.encode(text, true, false), embedded.encode(text, true, false));
            assertEquals(1, lmw.config().kvHeads());
            assertEquals(500000f, lmw.config().ropeTheta());
            float[] q = w.get("layers.0.attention.wq.weight").values();
            float[] loaded = lmw.tensor("blk.0.attn_q.weight").toFloatArray();
            assertEquals(Float.intBitsToFloat(Halfs.toBF16(q[1]) << 16), loaded[1], "row 0, column 1");
        }
    }

    private static Weight random(Random random, long... size) {
        long n = 1;
        for (long s : size) {
            n *= s;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian() * 0.05f;
        }
        return new Weight(size, v);
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 10, 40, 100, 8100, 600_000, 1_181_819})
    void aTruncatedFileIsRefusedInOneLine(int length) throws IOException {
        byte[] bytes = Files.readAllBytes(SharedData.model("torch/stories260K.lmw"));
        Path file = dir.resolve("cut.lmw");
        Files.write(file, Arrays.copyOf(bytes, length));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(file).close());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    }

    @Test
    void anUnknownDtypeIsRefused() throws IOException {
        byte[] bytes = Files.readAllBytes(SharedData.model("torch/stories260K.lmw"));
        int first = 12 + 36 + 4 + 7986 + 2; // the first tensor: tok_embeddings.weight (24-byte name), rank 2
        int dtypeAt = first + 4 + 24 + 4 + 8 + 4;
        assertEquals(132, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(dtypeAt));
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(dtypeAt, 116);
        Path file = dir.resolve("fp16.lmw");
        Files.write(file, bytes);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(file).close());
        assertTrue(e.getMessage().contains("has dtype 116 (expected 132 fp32 or 117 bf16)"), e.getMessage());
    }
}
