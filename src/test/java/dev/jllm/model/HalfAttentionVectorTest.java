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
}
