package dev.jllm.tensor;

import java.util.Objects;

/**
 * A batch of activation vectors converted once to the {@link ActivationFormat} a kernel multiplies with, as ggml
 * converts {@code src1} to the weight type's {@code vec_dot_type} before a matrix product. The buffers grow and are
 * reused: one instance serves every matrix product of a thread, so it must not be shared between threads that
 * prepare at the same time (worker threads only read it while a product runs).
 *
 * <p>The rounding follows ggml's x86 (AVX2) CPU build, which produced the golden logits:
 * <ul>
 * <li>Q8_0 / Q8_1 ({@code quantize_row_q8_0}, {@code quantize_row_q8_1}): per block of 32, amax = max |x|,
 * d = amax / 127, id = 127 / amax (0 when amax is 0; note: not 1 / d), q = x * id rounded to nearest even
 * ({@code _mm256_round_ps(_MM_ROUND_NEAREST)}), then converted to int32 (NaN and overflow give INT_MIN, as
 * {@code cvtps2dq} does) and saturated to int8 ({@code packs}). d is stored as fp16, so the dot product uses the
 * fp16-rounded d. For Q8_1, s = fp16(d * sum(q)) with the unrounded float d and the int32 sum of the quantized
 * values.</li>
 * <li>F16: {@code Float.floatToFloat16} (round to nearest even, as F16C's {@code vcvtps2ph}).</li>
 * <li>BF16: ggml's {@code GGML_FP32_TO_BF16}: round to nearest even on the bit pattern, NaN made quiet.</li>
 * </ul>
 */
public final class PreparedActivations {

    private static final int BLOCK = ActivationFormat.BLOCK;

    private ActivationFormat format = ActivationFormat.F32;
    private int rowLength;
    private int batch;
    /** F32: the caller's array itself (not copied); F16 and BF16: {@link #rounded}. */
    private float[] floats = new float[0];
    private float[] rounded = new float[0];
    private byte[] quants = new byte[0];
    private int[] lanes = new int[0];
    private float[] scales = new float[0];
    private float[] sums = new float[0];
    private float[] blockSums = new float[0];
    private float[] tokenGroups = new float[0];
    private float[] tokenGroupScales = new float[0];
    private int tokenGroupCount;
    private short[] nibblePairs = new short[0];
    private boolean nibblePairsUsable;

    /**
     * Converts {@code x[0 .. batch * rowLength)} (batch vectors of rowLength values, one after another) to
     * {@code format}. For {@link ActivationFormat#F32} nothing is copied: the prepared activations read {@code x}, which
     * must then stay unchanged while they are used. Quantized formats need rowLength to be a multiple of 32.
     */
    public PreparedActivations prepare(ActivationFormat format, float[] x, int rowLength, int batch) {
        Objects.requireNonNull(format, "format");
        int n = Math.multiplyExact(rowLength, batch);
        if (rowLength < 0 || batch < 0 || n > x.length) {
            throw new IllegalArgumentException("batch " + batch + " x row length " + rowLength
                    + " does not fit in " + x.length + " values");
        }
        this.format = format;
        this.rowLength = rowLength;
        this.batch = batch;
        switch (format) {
            case F32 -> floats = x;
            case F16 -> {
                floats = rounded = grow(rounded, n);
                for (int i = 0; i < n; i++) {
                    floats[i] = roundToHalf(x[i]);
                }
            }
            case BF16 -> {
                floats = rounded = grow(rounded, n);
                for (int i = 0; i < n; i++) {
                    floats[i] = roundToBfloat16(x[i]);
                }
            }
            case Q8_0, Q8_1 -> {
                if (rowLength % BLOCK != 0) {
                    throw new IllegalArgumentException("row length " + rowLength + " is not a multiple of " + BLOCK
                            + ", needed for " + format + " activations");
                }
                quants = grow(quants, n);
                lanes = grow(lanes, n);
                scales = grow(scales, n / BLOCK);
                boolean withSums = format == ActivationFormat.Q8_1;
                if (withSums) {
                    sums = grow(sums, n / BLOCK);
                }
                quantizeQ8(x, 0, n, quants, scales, withSums ? sums : null);
                toLanes(quants, lanes, n);
                blockSums = grow(blockSums, n / BLOCK);
                blockSums(quants, n, blockSums);
                tokenGroupCount = 0;
                nibblePairsUsable = false;
                if (batch == 1 && rowLength % (2 * BLOCK) == 0) {
                    nibblePairs = grow(nibblePairs, rowLength / (2 * BLOCK) * NIBBLE_PAIR_SHORTS);
                    nibblePairsUsable = toNibblePairs(quants, blockSums, rowLength, nibblePairs);
                }
                if (batch > 1) {
                    tokenGroupCount = (batch + 2 * GROUP - 1) / (2 * GROUP) * 2;
                    tokenGroups = grow(tokenGroups, tokenGroupCount * GROUP * rowLength);
                    tokenGroupScales = grow(tokenGroupScales, tokenGroupCount * GROUP * (rowLength / BLOCK));
                    toTokenGroups(quants, scales, rowLength, batch, tokenGroupCount, tokenGroups, tokenGroupScales);
                }
            }
        }
        return this;
    }

    public ActivationFormat format() {
        return format;
    }

    public int rowLength() {
        return rowLength;
    }

    public int batch() {
        return batch;
    }

    /** F32, F16, BF16: the (rounded) values, vector b at {@code b * rowLength}. */
    float[] floats() {
        return floats;
    }

    /** Q8_0, Q8_1: the int8 values, vector b at {@code b * rowLength}. */
    byte[] quants() {
        return quants;
    }

    /**
     * Q8_0, Q8_1: the int8 values again, as ints in the order ggml's x86 dot products sum them: ggml multiplies a block
     * of 32 in eight int32 lanes, lane k holding elements 4k .. 4k+3. Here element 4k + t of block b is at
     * {@code b * 32 + t * 8 + k}, so that the four values a lane adds are four vectors of eight lanes.
     */
    int[] lanes() {
        return lanes;
    }

    /** Q8_0, Q8_1: the fp16-rounded scale d of each block of 32 (block of element e: e / 32). */
    float[] scales() {
        return scales;
    }

    /** Q8_1: the fp16-rounded s = d * sum(q) of each block of 32. */
    float[] sums() {
        return sums;
    }

    /** Q8_0, Q8_1: the sum of the int8 values of each block of 32, as a float (exact). */
    float[] blockSums() {
        return blockSums;
    }

    /**
     * Q8_0, Q8_1 with a batch of two or more: the number of groups of {@link #GROUP} vectors in
     * {@link #tokenGroups()}, even (the last groups are padded with zero vectors); 0 for a batch of one.
     */
    int tokenGroupCount() {
        return tokenGroupCount;
    }

    /**
     * Q8_0, Q8_1 with a batch of two or more: the int8 values as floats, transposed so that the vectors of a group of
     * {@link #GROUP} are the lanes: value j of block k of vector {@code g * GROUP + t} is at
     * {@code ((g * blocks + k) * 32 + j) * GROUP + t}, where blocks = rowLength / 32. Padding vectors are zero.
     */
    float[] tokenGroups() {
        return tokenGroups;
    }

    /** The scales in the layout of {@link #tokenGroups()}: scale of block k of vector g * GROUP + t at {@code (g * blocks + k) * GROUP + t}. */
    float[] tokenGroupScales() {
        return tokenGroupScales;
    }

    /** Shorts per pair of blocks in {@link #nibblePairs()}. */
    static final int NIBBLE_PAIR_SHORTS = 96;

    /**
     * Q8_0 with a batch of one and a row length that is a multiple of 64: the activations laid out for the 16-bit Q4_0
     * decode ({@code BlockTiles}), 96 shorts per pair of blocks (2p, 2p + 1): at {@code 96p + 2k + h}
     * (k < 16, h < 2) value k of block 2p + h (the values a Q4_0 block's low nibbles multiply), at
     * {@code 96p + 32 + 2k + h} its value 16 + k (the high nibbles'), and at {@code 96p + 64 + 2k + h} eight times the
     * sum of block 2p + h's values, as a short (modulo 2^16). Only valid when {@link #nibblePairsUsable()}.
     */
    short[] nibblePairs() {
        return nibblePairs;
    }

    /**
     * True when {@link #nibblePairs()} holds this batch's layout and no value is -128, so that every Q4_0 block sum
     * sum((q - 8) x) lies within [-32512, 32512] and can be computed modulo 2^16.
     */
    boolean nibblePairsUsable() {
        return nibblePairsUsable;
    }

    private static boolean toNibblePairs(byte[] q, float[] blockSums, int n, short[] out) {
        boolean usable = true;
        for (int pair = 0; pair < n / (2 * BLOCK); pair++) {
            int at = pair * NIBBLE_PAIR_SHORTS;
            for (int half = 0; half < 2; half++) {
                int block = 2 * pair + half;
                for (int k = 0; k < 16; k++) {
                    byte low = q[block * BLOCK + k];
                    byte high = q[block * BLOCK + 16 + k];
                    usable &= low != Byte.MIN_VALUE && high != Byte.MIN_VALUE;
                    out[at + 2 * k + half] = low;
                    out[at + 32 + 2 * k + half] = high;
                    out[at + 64 + 2 * k + half] = (short) (8 * (int) blockSums[block]);
                }
            }
        }
        return usable;
    }

    /** Vectors per group of {@link #tokenGroups()}: the lanes of a 512-bit float vector. */
    static final int GROUP = 16;

    private static void blockSums(byte[] q, int n, float[] blockSums) {
        for (int block = 0; block < n; block += BLOCK) {
            int sum = 0;
            for (int i = block; i < block + BLOCK; i++) {
                sum += q[i];
            }
            blockSums[block / BLOCK] = sum;
        }
    }

    private static void toTokenGroups(byte[] q, float[] scales, int rowLength, int batch, int groups, float[] out,
            float[] outScales) {
        int blocks = rowLength / BLOCK;
        java.util.Arrays.fill(out, 0, groups * GROUP * rowLength, 0f);
        java.util.Arrays.fill(outScales, 0, groups * GROUP * blocks, 0f);
        for (int v = 0; v < batch; v++) {
            int g = v / GROUP;
            int t = v % GROUP;
            for (int k = 0; k < blocks; k++) {
                int base = (g * blocks + k) * BLOCK * GROUP + t;
                int from = v * rowLength + k * BLOCK;
                for (int j = 0; j < BLOCK; j++) {
                    out[base + j * GROUP] = q[from + j];
                }
                outScales[(g * blocks + k) * GROUP + t] = scales[v * blocks + k];
            }
        }
    }

    /**
     * ggml's x86 {@code quantize_row_q8_0} / {@code quantize_row_q8_1} of {@code x[offset .. offset + count)} into
     * {@code q[offset ..]}, {@code scales[offset / 32 ..]} and, when {@code sums} is not null,
     * {@code sums[offset / 32 ..]}. offset and count are multiples of 32.
     */
    static void quantizeQ8(float[] x, int offset, int count, byte[] q, float[] scales, float[] sums) {
        for (int start = offset; start < offset + count; start += BLOCK) {
            float amax = 0f;
            for (int i = start; i < start + BLOCK; i++) {
                amax = Math.max(amax, Math.abs(x[i]));
            }
            float d = amax / 127f;
            float id = amax != 0f ? 127f / amax : 0f;
            int sum = 0;
            for (int i = start; i < start + BLOCK; i++) {
                int v = roundToInt32(x[i] * id);
                sum += v;
                q[i] = (byte) Math.clamp(v, -128, 127);
            }
            int block = start / BLOCK;
            scales[block] = roundToHalf(d);
            if (sums != null) {
                sums[block] = roundToHalf(d * sum);
            }
        }
    }

    /** Copies {@code q[0 .. n)} into {@code lanes} in the layout of {@link #lanes()}. */
    static void toLanes(byte[] q, int[] lanes, int n) {
        for (int block = 0; block < n; block += BLOCK) {
            for (int k = 0; k < 8; k++) {
                for (int t = 0; t < 4; t++) {
                    lanes[block + t * 8 + k] = q[block + 4 * k + t];
                }
            }
        }
    }

    /**
     * Round to nearest even, then to int32 as x86's {@code cvtps2dq} does: NaN and values outside the int32 range give
     * the "integer indefinite" value INT_MIN.
     */
    static int roundToInt32(float v) {
        double r = Math.rint(v);
        if (Double.isNaN(r) || r < Integer.MIN_VALUE || r > Integer.MAX_VALUE) {
            return Integer.MIN_VALUE;
        }
        return (int) r;
    }

    static float roundToHalf(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /** ggml's {@code GGML_FP32_TO_BF16} and back to float. */
    static float roundToBfloat16(float v) {
        int bits = Float.floatToRawIntBits(v);
        int top;
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            top = (bits >>> 16) | 64;
        } else {
            top = (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
        }
        return Float.intBitsToFloat(top << 16);
    }

    private static float[] grow(float[] a, int n) {
        return a.length >= n ? a : new float[Math.max(n, a.length + (a.length >> 1))];
    }

    private static int[] grow(int[] a, int n) {
        return a.length >= n ? a : new int[Math.max(n, a.length + (a.length >> 1))];
    }

    private static short[] grow(short[] a, int n) {
        return a.length >= n ? a : new short[Math.max(n, a.length + (a.length >> 1))];
    }

    private static byte[] grow(byte[] a, int n) {
        return a.length >= n ? a : new byte[Math.max(n, a.length + (a.length >> 1))];
    }
}
