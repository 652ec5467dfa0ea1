package dev.jllm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The vector forms of {@link HalfAttention} give the bits of its scalar forms (which follow ggml's lanes and sums),
 * on random FP16 caches with stale values past the attended position, for head sizes and positions around the
 * 64-wide blocks and the padded tail.
 */
class HalfAttentionVectorTest {

    @Test
    void vectorAndScalarAttentionAgreeBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("HalfAttentionVectorTest.vectorAndScalarAttentionAgreeBitForBit");
        Random random = new Random(seed);
        for (int headDim : new int[] {16, 64, 80, 128}) {
            int kvHeads = 2;
            int kvDim = kvHeads * headDim;
            int context = 200;
            short[] keys = new short[context * kvDim];
            short[] values = new short[context * kvDim];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = Float.floatToFloat16((float) random.nextGaussian());
                values[i] = Float.floatToFloat16((float) random.nextGaussian() * 3f);
            }
            float[] q = new float[headDim];
            for (int pos : new int[] {0, 1, 31, 32, 63, 64, 95, 150, 199}) {
                for (int i = 0; i < headDim; i++) {
                    q[i] = (float) random.nextGaussian() * 2f;
                }
                int nKv = HalfAttention.attendedPositions(pos, context);
                int base = headDim; // the second kv head
                float scale = (float) (1.0 / Math.sqrt(headDim));
                float[] scalar = new float[headDim];
                float[] vector = new float[headDim];
                HalfAttention.head(keys, values, base, kvDim, headDim, pos, nKv, q, 0, scale,
                        new HalfAttention.Scratch(headDim, context), scalar, 0, false);
                HalfAttention.head(keys, values, base, kvDim, headDim, pos, nKv, q, 0, scale,
                        new HalfAttention.Scratch(headDim, context), vector, 0, true);
                for (int i = 0; i < headDim; i++) {
                    assertEquals(Float.floatToRawIntBits(scalar[i]), Float.floatToRawIntBits(vector[i]),
                            "seed " + seed + ", head " + headDim + ", pos " + pos + ", i " + i);
                }
            }
        }
    }

    /**
     * {@link HalfAttention#groupHeads} (the heads of a GQA group and consecutive tokens sharing keys and values
     * converted once) gives, head by head, the bits of {@link HalfAttention#head} for one head alone: tokens in
     * increasing and then decreasing positions, a switch to the other KV head and back, and one scratch kept across
     * them all as a prefill job keeps it (the cache rows past the largest position hold stale values).
     */
    @Test
    void groupedHeadsEqualTheSingleHeadBitForBit() {
        long seed = dev.jllm.TestSeeds.seed("HalfAttentionVectorTest.groupedHeadsEqualTheSingleHeadBitForBit");
        Random random = new Random(seed);
        for (int headDim : new int[] {64, 128, 80}) {
            int kvHeads = 2;
            int group = 1 + random.nextInt(8);
            int kvDim = kvHeads * headDim;
            int context = 300;
            short[] keys = new short[context * kvDim];
            short[] values = new short[context * kvDim];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = Float.floatToFloat16((float) random.nextGaussian() * 2f);
                values[i] = Float.floatToFloat16((float) random.nextGaussian() * 3f);
            }
            float scale = (float) (1.0 / Math.sqrt(headDim));
            HalfAttention.Scratch shared = new HalfAttention.Scratch(headDim, context);
            float[] q = new float[group * headDim];
            int[][] jobs = {{0, 0}, {1, 0}, {15, 0}, {16, 0}, {63, 0}, {64, 0}, {65, 0}, {130, 1}, {17, 1}, {131, 0},
                {200, 0}, {299, 0}, {5, 0}, {180 + random.nextInt(120), 1}};
            for (int[] job : jobs) {
                int pos = job[0];
                int base = job[1] * headDim;
                for (int i = 0; i < q.length; i++) {
                    q[i] = (float) random.nextGaussian() * 2f;
                }
                int nKv = HalfAttention.attendedPositions(pos, context);
                float[] grouped = new float[group * headDim];
                HalfAttention.groupHeads(keys, values, base, kvDim, headDim, pos, nKv, q, 0, group, scale, shared,
                        grouped, 0);
                for (int h = 0; h < group; h++) {
                    float[] alone = new float[headDim];
                    HalfAttention.head(keys, values, base, kvDim, headDim, pos, nKv, q, h * headDim, scale,
                            new HalfAttention.Scratch(headDim, context), alone, 0);
                    for (int i = 0; i < headDim; i++) {
                        assertEquals(Float.floatToRawIntBits(alone[i]), Float.floatToRawIntBits(grouped[h * headDim + i]),
                                "seed " + seed + ", head size " + headDim + ", pos " + pos + ", head " + h + ", i " + i);
                    }
                }
            }
        }
    }
}
