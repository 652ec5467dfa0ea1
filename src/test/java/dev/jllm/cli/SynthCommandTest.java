package dev.jllm.cli;

import static dev.jllm.cli.CliTest.assertOneLineError;
import static dev.jllm.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jllm synth} end to end: files the engine loads and runs, inspect's view of them, and bad input. */
class SynthCommandTest {

    @TempDir
    Path dir;

    private static final String SPM = "vocab/ggml-vocab-llama-spm.gguf";
    private static final String LLAMA3 = "vocab/ggml-vocab-llama3-from-tiktoken.gguf";

    private static String[] custom(String type, Path out) {
        return new String[] {"synth", "--type", type, "-o", out.toString(), "--dim", "64", "--layers", "2", "--heads",
            "4", "--kv-heads", "2", "--hidden", "128", "--vocab-size", "320", "--ctx", "64", "--seed", "7"};
    }

    /**
     * Issue 14, item 8: a matrix whose rows do not fit the type's blocks is written in F32, and synth says which and
     * why (on stderr) and how many (in its summary), instead of reporting q4_0 for a file that is partly F32.
     */
    @Test
    void matricesThatFallBackToF32AreNamed() throws IOException {
        Path out = dir.resolve("q4.gguf");
        String[] args = custom("q4_0", out);
        args[java.util.Arrays.asList(args).indexOf("--hidden") + 1] = "172"; // ffn_down rows of 172 values
        CliTest.Result r = run(args);
        assertEquals(0, r.code(), r.err());
        List<String> warnings = r.err().lines().filter(l -> l.startsWith("jllm: warning:")).toList();
        assertEquals(1, warnings.size(), r.err());
        assertTrue(warnings.getFirst().contains("--type q4_0 does not fit 2 of 16 matrices, written as F32"),
                warnings.getFirst());
        assertTrue(warnings.getFirst().contains("not a multiple of the 32-value Q4_0 block"), warnings.getFirst());
        assertTrue(warnings.getFirst().contains("blk.0.ffn_down.weight (rows of 172), blk.1.ffn_down.weight (rows of"
                + " 172)"), warnings.getFirst());
        assertTrue(r.out().contains(", q4_0 (2 matrices in F32, see the warning),"), r.out());
        try (GgufFile f = GgufReader.read(out)) {
            for (var info : f.tensorInfos()) {
                boolean down = info.name().endsWith("ffn_down.weight");
                if (info.shape().length == 2) {
                    assertEquals(down ? GgmlType.F32 : GgmlType.Q4_0, info.type(), info.name());
                }
            }
        }
        CliTest.Result fits = run(custom("q4_0", dir.resolve("fits.gguf")));
        assertFalse(fits.err().contains("warning"), fits.err());
    }

    @Test
    void customShapesLoadAndRunInEveryType() {
        float[] reference = null;
        for (String type : new String[] {"f32", "f16", "bf16", "q8_0", "q4_0"}) {
            Path out = dir.resolve(type + ".gguf");
            CliTest.Result r = run(custom(type, out));
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("wrote " + out + ": custom, " + type + ","), r.out());
            try (Model model = Model.load(out, null)) {
                LlamaConfig c = model.config();
                assertEquals(List.of(64, 2, 4, 2, 16, 128, 320, 64),
                        List.of(c.dim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.hiddenDim(), c.vocabSize(),
                                c.contextLength()));
                GgmlType expected = GgmlType.valueOf(type.toUpperCase(java.util.Locale.ROOT));
                for (Tensor t : model.file().tensors().values()) {
                    GgmlType want = t.shape().length == 2 ? expected : GgmlType.F32;
                    assertEquals(want, t.type(), t.name());
                }
                assertEquals(List.of(64L, 64L), List.of(model.file().tensor("blk.1.attn_q.weight").shape()[0],
                        model.file().tensor("blk.1.attn_q.weight").shape()[1]));
                assertEquals(List.of(64L, 32L), List.of(model.file().tensor("blk.1.attn_k.weight").shape()[0],
                        model.file().tensor("blk.1.attn_k.weight").shape()[1]));
                assertEquals(List.of(128L, 64L), List.of(model.file().tensor("blk.0.ffn_down.weight").shape()[0],
                        model.file().tensor("blk.0.ffn_down.weight").shape()[1]));
                Session session = model.newSession();
                int[] prompt = model.tokenizer().encode("once upon a time", true, false);
                float[] logits = session.append(prompt);
                assertEquals(320, logits.length);
                for (float v : logits) {
                    assertTrue(Float.isFinite(v), type);
                }
                // the same seed gives the same weights in every type, so the logits agree with F32's
                if (reference == null) {
                    reference = logits;
                } else {
                    double cosine = cosine(reference, logits);
                    double floor = type.equals("q4_0") ? 0.95 : 0.999;
                    assertTrue(cosine > floor, type + ": cosine similarity to F32's logits " + cosine);
                }
            }
        }
    }

    /** --type q4_k, q6_k and q4_k_m on a 256-wide custom shape: the file runs, close to the F32 file's logits. */
    @Test
    void kQuantTypesRun() {
        float[] reference = null;
        for (String type : new String[] {"f32", "q6_k", "q4_k", "q4_k_m"}) {
            Path out = dir.resolve(type + ".gguf");
            CliTest.Result r = run("synth", "--type", type, "-o", out.toString(), "--dim", "256", "--layers", "2",
                    "--heads", "4", "--hidden", "512", "--vocab-size", "320", "--ctx", "64", "--seed", "7");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("wrote " + out + ": custom, " + type + ","), r.out());
            try (Model model = Model.load(out, null)) {
                if (!type.equals("f32")) {
                    assertEquals(type.equals("q6_k") ? GgmlType.Q6_K : GgmlType.Q4_K,
                            model.file().tensor("blk.0.attn_q.weight").type());
                    assertEquals(type.equals("q4_k") ? GgmlType.Q4_K : GgmlType.Q6_K,
                            model.file().tensor("output.weight").type());
                }
                float[] logits = model.newSession().append(model.tokenizer().encode("once upon a time", true, false));
                if (reference == null) {
                    reference = logits;
                } else {
                    double cosine = cosine(reference, logits);
                    // measured with seed 7: q6_k 0.9986, q4_k 0.9836, q4_k_m 0.9893
                    double floor = type.equals("q6_k") ? 0.995 : 0.97;
                    assertTrue(cosine > floor, type + ": cosine to F32's logits " + cosine);
                }
            }
        }
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * (double) b[i];
            na += a[i] * (double) a[i];
            nb += b[i] * (double) b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    @Test
    void stories15MWithTheLlamaVocabulary() throws IOException {
        Path out = dir.resolve("stories15M-q8_0.gguf");
        CliTest.Result r = run("synth", "--shape", "stories15M", "--type", "q8_0", "--vocab",
                SharedData.file(SPM).toString(), "-o", out.toString());
        assertEquals(0, r.code(), r.err());
        // stderr is not a terminal here: a line per 10%
        assertEquals(10, r.err().lines().filter(l -> l.matches("synth: +\\d+% \\(.* MiB\\)")).count(), r.err());
        assertTrue(r.err().contains("synth: 100%"), r.err());

        CliTest.Result inspect = run("inspect", out.toString());
        assertEquals(0, inspect.code(), inspect.err());
        String text = inspect.out();
        assertTrue(text.contains("config:    dim 288, layers 6, heads 6, kv heads 6, head dim 48, hidden 768, vocab 32000,"
                + " context 256"), text);
        assertTrue(text.contains("tokenizer: llama (pre default), 32000 tokens, bos 1, eos 2, unk 0"), text);
        // 4 attention matrices of 288x288 and 3 FFN matrices of 288x768 per layer, embeddings and output 288x32000,
        // all Q8_0 (34 bytes per 32 values); 13 norms of 288 floats
        long matrixValues = 6L * (4 * 288 * 288 + 3 * 288 * 768) + 2L * 288 * 32000;
        long weights = matrixValues / 32 * 34 + 13L * 288 * 4;
        assertTrue(text.contains("57 tensors, " + weights + " bytes of weights"), text);
        assertEquals(54, text.lines().filter(l -> l.matches("blk\\.\\d\\.\\w+\\.weight +Q8_0 .*")).count() + 12, text);
        try (GgufFile g = GgufReader.read(out)) {
            assertEquals(g.dataOffset() + weights, Files.size(out), "header, padding, then the weights");
            assertEquals(32000, ((String[]) g.metadata().get("tokenizer.ggml.tokens")).length);
            try (GgufFile vocab = GgufReader.read(SharedData.file(SPM))) {
                for (String key : vocab.metadata().keySet()) {
                    if (key.startsWith("tokenizer.")) {
                        Object a = vocab.metadata().get(key);
                        Object b = g.metadata().get(key);
                        assertTrue(java.util.Objects.deepEquals(a, b), key + " copied from the vocabulary file");
                    }
                }
            }
        }
        try (Model model = Model.load(out, null)) {
            int[] ids = model.tokenizer().encode("Hello world", true, false);
            assertEquals(32000, model.newSession().append(ids).length);
        }
    }

    @Test
    void llama32ShapeWithTheLlama3Vocabulary() {
        Path out = dir.resolve("l3.gguf");
        CliTest.Result r = run("synth", "--shape", "llama-3.2-1b", "--type", "q4_0", "--vocab",
                SharedData.file(LLAMA3).toString(), "-o", out.toString(), "--dim", "128", "--layers", "1",
                "--heads", "4", "--kv-heads", "1", "--hidden", "256");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("llama-3.2-1b-custom, q4_0"), r.out());
        try (Model model = Model.load(out, null)) {
            LlamaConfig c = model.config();
            assertEquals(128256, c.vocabSize());
            assertEquals(500000f, c.ropeTheta());
            assertEquals(131072, c.contextLength());
            assertNull(model.file().tensorOrNull("output.weight"), "tied embeddings");
            Tensor freqs = model.file().tensorOrNull("rope_freqs.weight");
            assertNotNull(freqs);
            assertEquals(16, freqs.elementCount());
            assertEquals("gpt2", model.file().tokenizer().model());
            float[] logits = model.newSession().append(128000, 791, 6864);
            assertEquals(128256, logits.length);
        }
    }

    // ---- bad input: one line, exit code 2, nothing written ----

    private void assertFailsCleanly(String[] args, String... fragments) throws IOException {
        Path existing = dir.resolve("existing.gguf");
        Files.writeString(existing, "keep me");
        assertOneLineError(run(args), fragments);
        assertEquals("keep me", Files.readString(existing));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(existing), files.toList(), "no other file left behind");
        }
    }

    @Test
    void badInputGivesOneLineAndNoFile() throws IOException {
        String out = dir.resolve("existing.gguf").toString();
        String spm = SharedData.file(SPM).toString();
        assertFailsCleanly(new String[] {"synth", "--shape", "llama-9", "--type", "q8_0", "-o", out},
                "unknown --shape 'llama-9'", "tinyllama-1.1b");
        assertFailsCleanly(new String[] {"synth", "--shape", "stories15M", "--type", "q5_k", "-o", out},
                "unknown --type 'q5_k'", "q4_k_m");
        assertFailsCleanly(new String[] {"synth", "--shape", "llama-3-8b", "--type", "q4_0", "--vocab", spm, "-o", out},
                "has 32000 tokens", "128256");
        assertFailsCleanly(new String[] {"synth", "--type", "f16", "-o", out, "--dim", "64"},
                "missing: --layers, --heads, --hidden");
        assertFailsCleanly(new String[] {"synth", "--type", "f16", "-o", out, "--dim", "100", "--layers", "1", "--heads",
            "3", "--hidden", "64"}, "dim 100 is not a multiple of heads 3");
        assertFailsCleanly(new String[] {"synth", "--type", "f16", "-o", out, "--dim", "64", "--layers", "1", "--heads",
            "4", "--hidden", "64", "--vocab-size", "100"}, "vocabulary size 100 is too small");
        assertFailsCleanly(new String[] {"synth", "--shape", "stories15M", "--type", "f32", "--vocab",
            SharedData.model("stories260K.bin").toString(), "-o", out}, "stories260K.bin", "not a GGUF file");
        assertFailsCleanly(new String[] {"synth", "--shape", "stories15M", "--type", "f32", "-o", out, "--threads", "0"},
                "--threads 0");
        Path missingDir = dir.resolve("no/such/dir/model.gguf");
        assertFailsCleanly(new String[] {"synth", "--shape", "stories15M", "--type", "f32", "-o", missingDir.toString()},
                "cannot write", "does not exist");
        assertFailsCleanly(new String[] {"synth", "--shape", "stories15M", "--type", "f32", "-o", dir.toString()},
                "cannot write", "is a directory");
        assertFailsCleanly(new String[] {"synth", "--shape", "stories15M", "--type", "f32", "-o", out + "/model.gguf"},
                "cannot write", "existing.gguf is not a directory");
    }

    @Test
    void helpListsTheShapes() {
        CliTest.Result r = run("synth", "--help");
        assertEquals(0, r.code());
        for (String shape : new String[] {"stories15M", "stories110M", "tinyllama-1.1b", "llama-3.2-1b", "llama-2-7b",
            "llama-3-8b"}) {
            assertTrue(r.out().contains(shape), shape);
        }
        assertFalse(r.out().isBlank());
    }
}
