package dev.jllm.quant;

import dev.jllm.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q6_K, as {@code quantize_row_q6_K_ref} (what llama-quantize writes without an importance matrix): per
 * 16-value group {@link KQuantSearch#symmetric} (nmax 32) gives a scale; the sixteen scales are quantized to int8
 * against d = -(the scale of largest magnitude) / 128 (fp16), then every value is requantized with its group's rounded
 * scale to -32 .. 31. Layout as {@code block_q6_K}; a block whose scales are all below {@code GROUP_MAX_EPS} is zero.
 */
final class Q6_KQuantizer implements Quantizer {

    static final Q6_KQuantizer INSTANCE = new Q6_KQuantizer();

    private static final int BLOCK = 256;
    private static final int BLOCK_BYTES = 210;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Q6_KQuantizer() {
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public long quantize(float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        Quantizer.checkBlocks(GgmlType.Q6_K, src, srcOffset, count, dst, dstOffset);
        int[] l = new int[BLOCK];
        float[] scales = new float[16];
        byte[] sc = new byte[16];
        byte[] ql = new byte[128];
        byte[] qh = new byte[64];
        long out = dstOffset;
        for (int x0 = srcOffset; x0 < srcOffset + count; x0 += BLOCK, out += BLOCK_BYTES) {
            float maxScale = 0;
            float maxAbsScale = 0;
            for (int g = 0; g < 16; g++) {
                scales[g] = KQuantSearch.symmetric(16, 32, src, x0 + 16 * g, l, 16 * g);
                float abs = Math.abs(scales[g]);
                if (abs > maxAbsScale) {
                    maxAbsScale = abs;
                    maxScale = scales[g];
                }
            }
            if (maxAbsScale < KQuantSearch.GROUP_MAX_EPS) {
                dst.asSlice(out, BLOCK_BYTES).fill((byte) 0);
                continue;
            }
            float iscale = -128f / maxScale;
            short d = Halfs.toF16(1 / iscale);
            for (int g = 0; g < 16; g++) {
                sc[g] = (byte) Math.min(127, KQuantSearch.nearestInt(iscale * scales[g]));
            }
            for (int g = 0; g < 16; g++) {
                float dg = Float.float16ToFloat(d) * sc[g];
                if (dg == 0) {
                    continue;
                }
                for (int i = 0; i < 16; i++) {
                    int q = KQuantSearch.nearestInt(src[x0 + 16 * g + i] / dg);
                    l[16 * g + i] = Math.max(-32, Math.min(31, q)) + 32;
                }
            }
            for (int n = 0; n < 2; n++) {
                for (int i = 0; i < 32; i++) {
                    int j = 128 * n + i;
                    ql[64 * n + i] = (byte) ((l[j] & 0xF) | (l[j + 64] & 0xF) << 4);
                    ql[64 * n + 32 + i] = (byte) ((l[j + 32] & 0xF) | (l[j + 96] & 0xF) << 4);
                    qh[32 * n + i] = (byte) ((l[j] >> 4) | (l[j + 32] >> 4) << 2 | (l[j + 64] >> 4) << 4
                            | (l[j + 96] >> 4) << 6);
                }
            }
            MemorySegment.copy(ql, 0, dst, ValueLayout.JAVA_BYTE, out, 128);
            MemorySegment.copy(qh, 0, dst, ValueLayout.JAVA_BYTE, out + 128, 64);
            MemorySegment.copy(sc, 0, dst, ValueLayout.JAVA_BYTE, out + 192, 16);
            dst.set(SHORT_LE, out + 208, d);
        }
        return out - dstOffset;
    }
}
