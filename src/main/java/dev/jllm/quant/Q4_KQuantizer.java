package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q4_K, as {@code quantize_row_q4_K_ref} (what llama-quantize writes without an importance matrix): per
 * 32-value group, weights |x| + rms(group) and {@link KQuantSearch#affine} (nmax 15, 21 candidate scales from
 * 14/range to 16/range) give a scale and a minimum; the eight scales and eight minimums are quantized to 6 bits against
 * d = max scale / 63 and dmin = max minimum / 63 (both fp16), then every value is requantized with its group's
 * rounded scale and minimum. Layout as {@code block_q4_K}.
 */
final class Q4_KQuantizer implements Quantizer {

    static final Q4_KQuantizer INSTANCE = new Q4_KQuantizer();

    private static final int BLOCK = 256;
    private static final int BLOCK_BYTES = 144;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Q4_KQuantizer() {
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    @Override
    public long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        Quantizer.checkBlocks(GgmlType.Q4_K, src, srcOffset, count, dst, dstOffset);
        int[] l = new int[BLOCK];
        int[] aux = new int[32];
        float[] weights = new float[32];
        float[] mins = new float[8];
        float[] scales = new float[8];
        float[] minOut = new float[1];
        byte[] packed = new byte[12];
        long out = dstOffset;
        for (int x0 = srcOffset; x0 < srcOffset + count; x0 += BLOCK, out += BLOCK_BYTES) {
            float maxScale = 0;
            float maxMin = 0;
            for (int j = 0; j < 8; j++) {
                float sumX2 = 0;
                for (int i = 0; i < 32; i++) {
                    sumX2 += src[x0 + 32 * j + i] * src[x0 + 32 * j + i];
                }
                float avX = (float) Math.sqrt(sumX2 / 32);
                for (int i = 0; i < 32; i++) {
                    weights[i] = avX + Math.abs(src[x0 + 32 * j + i]);
                }
                scales[j] = KQuantSearch.affine(32, 15, src, x0 + 32 * j, weights, l, 32 * j, minOut, aux, -1f, 0.1f,
                        20, false);
                mins[j] = minOut[0];
                if (scales[j] > maxScale) {
                    maxScale = scales[j];
                }
                if (mins[j] > maxMin) {
                    maxMin = mins[j];
                }
            }
            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            java.util.Arrays.fill(packed, (byte) 0);
            for (int j = 0; j < 8; j++) {
                int ls = Math.min(63, KQuantSearch.nearestInt(invScale * scales[j]) & 0xFF);
                int lm = Math.min(63, KQuantSearch.nearestInt(invMin * mins[j]) & 0xFF);
                packScaleMin(packed, j, ls, lm);
            }
            short d = Halfs.toF16(maxScale / 63f);
            short dmin = Halfs.toF16(maxMin / 63f);
            dst.set(SHORT_LE, out, d);
            dst.set(SHORT_LE, out + 2, dmin);
            MemorySegment.copy(packed, 0, dst, ValueLayout.JAVA_BYTE, out + 4, 12);
            for (int j = 0; j < 8; j++) {
                float dj = Float.float16ToFloat(d) * scaleOf(packed, j);
                if (dj == 0) {
                    continue;
                }
                float dm = Float.float16ToFloat(dmin) * minOf(packed, j);
                for (int i = 0; i < 32; i++) {
                    int q = KQuantSearch.nearestInt((src[x0 + 32 * j + i] + dm) / dj);
                    l[32 * j + i] = Math.max(0, Math.min(15, q));
                }
            }
            for (int c = 0; c < 4; c++) {
                for (int i = 0; i < 32; i++) {
                    dst.set(ValueLayout.JAVA_BYTE, out + 16 + 32 * c + i,
                            (byte) (l[64 * c + i] | l[64 * c + 32 + i] << 4));
                }
            }
        }
        return out - dstOffset;
    }

    /** Scale and minimum j (6 bits each) into the 12 bytes as {@code block_q4_K} (and Q5_K) hold them. */
    static void packScaleMin(byte[] packed, int j, int ls, int lm) {
        if (j < 4) {
            packed[j] = (byte) ls;
            packed[j + 4] = (byte) lm;
        } else {
            packed[j + 4] = (byte) ((ls & 0xF) | (lm & 0xF) << 4);
            packed[j - 4] |= (byte) ((ls >> 4) << 6);
            packed[j] |= (byte) ((lm >> 4) << 6);
        }
    }

    /** ggml's {@code get_scale_min_k4}: scale j. */
    static int scaleOf(byte[] p, int j) {
        return j < 4 ? p[j] & 63 : (p[j + 4] & 0xF) | ((p[j - 4] & 0xFF) >> 6) << 4;
    }

    /** ggml's {@code get_scale_min_k4}: minimum j. */
    static int minOf(byte[] p, int j) {
        return j < 4 ? p[j + 4] & 63 : ((p[j + 4] & 0xFF) >> 4) | ((p[j] & 0xFF) >> 6) << 4;
    }
}
