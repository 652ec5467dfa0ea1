package dev.jllm.format.lumi;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tokenizer.TokenizerException;
import java.io.IOException;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of lumi's {@code .lmw}: the three header layouts, the embedded
 * {@code tokenizer.model}, the named tensors and their shapes, flags and types. Corpus in {@code LumiFuzzTestInputs/};
 * {@code mvn verify} replays it, {@code bench/fuzz.sh} fuzzes.
 */
public class LumiFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class, TokenizerException.class);
    /** Heap per input byte: the embedded tokenizer's pieces cost what a tokenizer.model's do (strings and map entries). */
    private static final long BYTES_PER_BYTE = 256;

    /** Tiny models (dim 8, one layer) in each layout, F32 and BF16, one with stories260K's tokenizer.model inside. */
    public static FuzzSeeds.Target seeds() throws IOException {
        byte[] tok512 = Files.readAllBytes(SharedTestData.file("models/torch/stories260K-meta/tokenizer.model"));
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        seeds.put("tiny-plain.lmw", LumiLoaderTest.lumi(LumiLoader.Layout.PLAIN, 0, null,
                new int[] {8, 1, 2, 1, 4, 4, 16}, 10000f, 1e-5f, null, weights(4), false));
        seeds.put("tiny-model-name-bf16.lmw", LumiLoaderTest.lumi(LumiLoader.Layout.MODEL_NAME, 0, "tiny",
                new int[] {8, 1, 2, 1, 4, 4, 16}, 10000f, 1e-5f, new byte[] {1, 2, 3}, weights(4), true));
        seeds.put("tiny-model-version-tok512.lmw", LumiLoaderTest.lumi(LumiLoader.Layout.MODEL_VERSION, 2, null,
                new int[] {8, 1, 2, 1, 4, 512, 16}, 10000f, 1e-5f, tok512, weights(512), true));
        return new FuzzSeeds.Target(LumiFuzzTest.class, "lmw", seeds);
    }

    private static Map<String, LumiLoaderTest.Weight> weights(int vocab) {
        int dim = 8;
        int hidden = 16;
        Map<String, LumiLoaderTest.Weight> w = new LinkedHashMap<>();
        w.put("tok_embeddings.weight", weight(vocab, dim));
        w.put("layers.0.attention.wq.weight", weight(dim, dim));
        w.put("layers.0.attention.wk.weight", weight(4, dim));
        w.put("layers.0.attention.wv.weight", weight(4, dim));
        w.put("layers.0.attention.wo.weight", weight(dim, dim));
        w.put("layers.0.feed_forward.w1.weight", weight(hidden, dim));
        w.put("layers.0.feed_forward.w2.weight", weight(dim, hidden));
        w.put("layers.0.feed_forward.w3.weight", weight(hidden, dim));
        w.put("layers.0.attention_norm.weight", weight(dim));
        w.put("layers.0.ffn_norm.weight", weight(dim));
        w.put("norm.weight", weight(dim));
        w.put("output.weight", weight(vocab, dim));
        return w;
    }

    private static LumiLoaderTest.Weight weight(long... size) {
        long n = 1;
        for (long s : size) {
            n *= s;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (i % 13 - 6) * 0.125f;
        }
        return new LumiLoaderTest.Weight(size, v);
    }

    @FuzzTest
    @Timeout(30)
    void lmw(byte[] input) {
        FuzzContract.checkModelFile("lumi .lmw", input, "lumi/model.lmw", BYTES_PER_BYTE, OWN, LumiLoader::isLumi,
                LumiLoader::load);
    }
}
