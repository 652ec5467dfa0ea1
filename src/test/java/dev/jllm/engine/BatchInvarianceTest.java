package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jllm.SharedData;
import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Batch invariance, bit for bit: the logits of a sequence's tokens do not depend on which other tokens share their
 * forward pass, how many there are, or how the sequence's own prompt is cut into chunks. The server relies on it:
 * a request's tokens are the same whether it runs alone or beside seven others, and a prompt prefix cached from an
 * earlier request continues exactly as a cold run would.
 *
 * <p>Sequence A (90 tokens: its positions cross the 32- and 64-position padding of the FP16 attention) runs alone, as
 * one batch; then token by token; then inside mixed batches: chunks of varying size, beside sequence B's prompt at
 * higher positions (so the batch's last position is far beyond A's) and sequence C's single decoding tokens. Every
 * logit of A must have the same bits in the three runs.
 */
class BatchInvarianceTest {

    private static final int CONTEXT = 256;
    private static final int LENGTH_A = 90;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String file : List.of("stories260K.gguf", "stories260K-q8_0-mixed.gguf", "stories260K-q4_0-mixed.gguf",
                "synth256/synth256-f16.gguf", "synth256/synth256-q4_1.gguf")) {
            for (KvCache.Type type : KvCache.Type.values()) {
                out.add(Arguments.of(file, type));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} cache")
    @MethodSource("cases")
    void logitsOfASequenceDoNotDependOnItsBatch(String file, KvCache.Type cacheType) {
        Path path = SharedData.model(file);
        try (Model model = Model.load(path, null)) {
            int vocab = model.config().vocabSize();
            Random random = new Random(file.hashCode() + cacheType.ordinal());
            int[] a = tokens(random, LENGTH_A, vocab);
            int[] b = tokens(random, 160, vocab);
            int[] c = tokens(random, 40, vocab);

            KvCache alone = model.newKvCache(1, CONTEXT, cacheType);
            float[] oneBatch = model.forward(Batch.ofSequence(0, a, 0, true), alone);

            KvCache single = model.newKvCache(1, CONTEXT, cacheType);
            float[] tokenByToken = new float[LENGTH_A * vocab];
            for (int i = 0; i < LENGTH_A; i++) {
                float[] row = model.forward(Batch.ofSequence(0, new int[] {a[i]}, i, true), single);
                System.arraycopy(row, 0, tokenByToken, i * vocab, vocab);
            }

            float[] mixed = mixedRun(model, cacheType, a, b, c, random);

            for (int i = 0; i < LENGTH_A; i++) {
                float[] expected = Arrays.copyOfRange(oneBatch, i * vocab, (i + 1) * vocab);
                assertBitsEqual(expected, Arrays.copyOfRange(tokenByToken, i * vocab, (i + 1) * vocab),
                        file + ": token " + i + " run token by token");
                assertBitsEqual(expected, Arrays.copyOfRange(mixed, i * vocab, (i + 1) * vocab),
                        file + ": token " + i + " run in mixed batches");
            }
        }
    }

    /**
     * A in sequence 1 of a three-sequence cache, in chunks of 1 to 23 tokens; each step also carries a chunk of B
     * (sequence 0, started 70 positions ahead of A) and, once B is done, one token of C (sequence 2). Returns A's
     * logits rows in order.
     */
    private static float[] mixedRun(Model model, KvCache.Type cacheType, int[] a, int[] b, int[] c, Random random) {
        int vocab = model.config().vocabSize();
        KvCache cache = model.newKvCache(3, CONTEXT, cacheType);
        model.forward(Batch.ofSequence(0, Arrays.copyOf(b, 70), 0, false), cache);
        float[] out = new float[a.length * vocab];
        int doneA = 0;
        int doneB = 70;
        int doneC = 0;
        while (doneA < a.length) {
            List<int[]> entries = new ArrayList<>(); // {token, position, sequence, wantLogits}
            int chunkB = Math.min(b.length - doneB, 1 + random.nextInt(30));
            for (int i = 0; i < chunkB; i++) {
                entries.add(new int[] {b[doneB + i], doneB + i, 0, 0});
            }
            doneB += chunkB;
            if (chunkB == 0 && doneC < c.length) {
                entries.add(new int[] {c[doneC], doneC, 2, 1});
                doneC++;
            }
            int chunkA = Math.min(a.length - doneA, 1 + random.nextInt(23));
            int insertAt = random.nextInt(entries.size() + 1);
            for (int i = 0; i < chunkA; i++) {
                entries.add(insertAt + i, new int[] {a[doneA + i], doneA + i, 1, 1});
            }
            int n = entries.size();
            int[] tokens = new int[n];
            int[] positions = new int[n];
            int[] sequences = new int[n];
            boolean[] want = new boolean[n];
            for (int i = 0; i < n; i++) {
                int[] e = entries.get(i);
                tokens[i] = e[0];
                positions[i] = e[1];
                sequences[i] = e[2];
                want[i] = e[3] == 1;
            }
            float[] logits = model.forward(new Batch(tokens, positions, sequences, want), cache);
            int row = 0;
            for (int i = 0; i < n; i++) {
                if (!want[i]) {
                    continue;
                }
                if (sequences[i] == 1) {
                    System.arraycopy(logits, row * vocab, out, positions[i] * vocab, vocab);
                }
                row++;
            }
            doneA += chunkA;
        }
        return out;
    }

    private static int[] tokens(Random random, int n, int vocab) {
        int[] t = new int[n];
        t[0] = 1;
        for (int i = 1; i < n; i++) {
            t[i] = 3 + random.nextInt(vocab - 3);
        }
        return t;
    }

    private static void assertBitsEqual(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                assertEquals(expected[i], actual[i], 0f, what + ", logit " + i + " differs (not bit for bit)");
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                        what + ", logit " + i + " has other bits");
            }
        }
    }
}
