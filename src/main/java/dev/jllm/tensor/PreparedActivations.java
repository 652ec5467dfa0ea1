package dev.jllm.tensor;

import java.util.Objects;

/**
 * A batch of activation vectors converted once to the {@link ActivationFormat} a kernel multiplies with, as ggml
 * converts {@code src1} to the weight type's {@code vec_dot_type} before a matrix product. The buffers grow and are
 * reused: one instance serves every matrix product of a thread, so it must not be shared between threads that
 * prepare at the same time (worker threads only read it while a product runs). Besides the quantized values,
 * scales and sums, it builds only the {@link ActivationLayout}s it is asked for; reading another one throws.
 *
 * <p>The rounding follows ggml's x86 (AVX2) CPU build, which produced the golden logits:
 * <ul>
 * <li>Q8_0 / Q8_1 ({@code quantize_row_q8_0}, {@code quantize_row_q8_1}): per block of 32, amax = max |x|,
 * d = amax / 127, id = 127 / amax (0 when amax is 0; note: not 1 / d), q = x * id rounded to nearest even
 * ({@code _mm256_round_ps(_MM_ROUND_NEAREST)}), then converted to int32 (NaN and overflow give INT_MIN, as
 * {@code cvtps2dq} does) and saturated to int8 ({@code packs}). d is stored as fp16, so the dot product uses the
 * fp16-rounded d. For Q8_1, s = fp16(d * sum(q)) with the unrounded float d and the int32 sum of the quantized
 * values.</li>
 * <li>Q8_K ({@code quantize_row_q8_K_ref}, which ggml's x86 build uses): per block of 256, max = the value of
 * largest magnitude (the first on ties), iscale = -127 / max, q = min(127, nearest_int(iscale * x)) with the product
 * rounded to float first (ggml-base is compiled without FMA contraction), d = 1 / iscale as a float (so d may be
 * negative), and the int sums of each 16 values; an all-zero block gets d = 0.</li>
 * <li>F16: {@code Float.floatToFloat16} (round to nearest even, as F16C's {@code vcvtps2ph}).</li>
 * <li>BF16: ggml's {@code GGML_FP32_TO_BF16}: round to nearest even on the bit pattern, NaN made quiet.</li>
 * </ul>
 */
public final class PreparedActivations {

    private static final int BLOCK = ActivationFormat.BLOCK;
    /** Values per sum of {@link ActivationFormat#Q8_K}'s {@link #groupSums()}. */
    static final int Q8K_GROUP = 16;

    private ActivationFormat format = ActivationFormat.F32;
    private int rowLength;
    private int batch;
    /** Bits of the {@link ActivationLayout}s built by the last {@link #prepare}. */
    private int layouts;
    /** F32: the caller's array itself (not copied); F16 and BF16: {@link #rounded}. */
    private float[] floats = new float[0];
    private float[] rounded = new float[0];
    private byte[] quants = new byte[0];
    private float[] scales = new float[0];
    private float[] sums = new float[0];
    private int[] groupSums = new int[0];
    private float[] blockSums = new float[0];
    private short[] shorts = new short[0];
    private float[] tokenGroups = new float[0];
    private float[] tokenGroupScales = new float[0];
    private float[] tokenGroupSums = new float[0];
    private int tokenGroupCount;
    private short[] nibblePairs = new short[0];
    private boolean nibblePairsUsable;

    /**
     * As {@link #prepare(ActivationFormat, java.util.Set, float[], int, int)} with every layout that applies to the
     * format, row length and batch (for tests and callers that do not know their kernel).
     */
    public PreparedActivations prepare(ActivationFormat format, float[] x, int rowLength, int batch) {
        return prepare(format, java.util.EnumSet.allOf(ActivationLayout.class), x, rowLength, batch);
    }

    /**
     * Converts {@code x[0 .. batch * rowLength)} (batch vectors of rowLength values, one after another) to
     * {@code format} and builds those of {@code wanted} that apply (see {@link ActivationLayout}: BLOCK_SUMS for Q8_0 / Q8_1, NIBBLE_PAIRS for Q8_0 with one vector and a row length that is a multiple of 64,
     * TOKEN_GROUPS for two vectors or more). For {@link ActivationFormat#F32} nothing is copied: the prepared
     * activations read {@code x}, which must then stay unchanged while they are used. Quantized formats need rowLength
     * to be a multiple of their block size.
     */
    public PreparedActivations prepare(ActivationFormat format, java.util.Set<ActivationLayout> wanted, float[] x,
            int rowLength, int batch) {
        Objects.requireNonNull(format, "format");
        int n = Math.multiplyExact(rowLength, batch);
        if (rowLength < 0 || batch < 0 || n > x.length) {
            throw new IllegalArgumentException("batch " + batch + " x row length " + rowLength
                    + " does not fit in " + x.length + " values");
        }
        this.format = format;
        this.rowLength = rowLength;
        this.batch = batch;
        this.layouts = 0;
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
            case Q8_0, Q8_1, Q8_K -> prepareQuantized(wanted, x, n);
        }
        return this;
    }

    private void prepareQuantized(java.util.Set<ActivationLayout> wanted, float[] x, int n) {
        int block = format.blockSize();
        if (rowLength % block != 0) {
            throw new IllegalArgumentException("row length " + rowLength + " is not a multiple of " + block
                    + ", needed for " + format + " activations");
        }
        quants = grow(quants, n);
        scales = grow(scales, n / block);
        if (format == ActivationFormat.Q8_K) {
            groupSums = grow(groupSums, n / Q8K_GROUP);
            quantizeQ8K(x, 0, n, quants, scales, groupSums);
        } else {
            boolean withSums = format == ActivationFormat.Q8_1;
            if (withSums) {
                sums = grow(sums, n / BLOCK);
            }
            quantizeQ8(x, 0, n, quants, scales, withSums ? sums : null);
            boolean pairs = format == ActivationFormat.Q8_0 && batch == 1 && rowLength % (2 * BLOCK) == 0
                    && wanted.contains(ActivationLayout.NIBBLE_PAIRS);
            if (wanted.contains(ActivationLayout.BLOCK_SUMS) || pairs) {
                blockSums = grow(blockSums, n / BLOCK);
                blockSums(quants, n, blockSums);
                layouts |= ActivationLayout.BLOCK_SUMS.bit();
            }
            nibblePairsUsable = false;
            if (pairs) {
                nibblePairs = grow(nibblePairs, rowLength / (2 * BLOCK) * NIBBLE_PAIR_SHORTS);
                nibblePairsUsable = toNibblePairs(quants, blockSums, rowLength, nibblePairs);
                layouts |= ActivationLayout.NIBBLE_PAIRS.bit();
            }
        }
        if (wanted.contains(ActivationLayout.SHORTS)) {
            shorts = grow(shorts, n);
            for (int i = 0; i < n; i++) {
                shorts[i] = quants[i];
            }
            layouts |= ActivationLayout.SHORTS.bit();
        }
        tokenGroupCount = 0;
        if (batch > 1 && wanted.contains(ActivationLayout.TOKEN_GROUPS)) {
            tokenGroupCount = (batch + 2 * GROUP - 1) / (2 * GROUP) * 2;
            tokenGroups = grow(tokenGroups, tokenGroupCount * GROUP * rowLength);
            tokenGroupScales = grow(tokenGroupScales, tokenGroupCount * GROUP * (rowLength / block));
            toTokenGroups(quants, scales, rowLength, block, batch, tokenGroupCount, tokenGroups, tokenGroupScales);
            if (format == ActivationFormat.Q8_K) {
                tokenGroupSums = grow(tokenGroupSums, tokenGroupCount * GROUP * (rowLength / Q8K_GROUP));
                toTokenGroupSums(groupSums, null, rowLength / Q8K_GROUP, batch, tokenGroupCount, tokenGroupSums);
            } else if (format == ActivationFormat.Q8_1) {
                tokenGroupSums = grow(tokenGroupSums, tokenGroupCount * GROUP * (rowLength / BLOCK));
                toTokenGroupSums(null, sums, rowLength / BLOCK, batch, tokenGroupCount, tokenGroupSums);
            }
            layouts |= ActivationLayout.TOKEN_GROUPS.bit();
        }
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

    /** True when the last {@link #prepare} built {@code layout}. */
    public boolean has(ActivationLayout layout) {
        return (layouts & layout.bit()) != 0;
    }

    private void require(ActivationLayout layout) {
        if ((layouts & layout.bit()) == 0) {
            throw new IllegalStateException("activation layout " + layout + " was not prepared (" + format
                    + ", batch " + batch + ")");
        }
    }

    /** F32, F16, BF16: the (rounded) values, vector b at {@code b * rowLength}. */
    float[] floats() {
        return floats;
    }

    /** Quantized formats: the int8 values, vector b at {@code b * rowLength}. */
    byte[] quants() {
        return quants;
    }

    /**
     * The scale d of each block (block of element e: e / {@link ActivationFormat#blockSize()}): fp16-rounded for
     * Q8_0 and Q8_1, a float for Q8_K.
     */
    float[] scales() {
        return scales;
    }

    /** Q8_1: the fp16-rounded s = d * sum(q) of each block of 32. */
    float[] sums() {
        return sums;
    }

    /** Q8_K: the sum of each 16 int8 values (of element e: e / 16), exact. */
    int[] groupSums() {
        return groupSums;
    }

    /** Q8_0, Q8_1: the sum of the int8 values of each block of 32, as a float (exact). */
    float[] blockSums() {
        require(ActivationLayout.BLOCK_SUMS);
        return blockSums;
    }

    /** Quantized formats: the int8 values as shorts, vector b at {@code b * rowLength}. */
    short[] shorts() {
        require(ActivationLayout.SHORTS);
        return shorts;
    }

    /**
     * Two vectors or more with {@link ActivationLayout#TOKEN_GROUPS}: the number of groups of {@link #GROUP} vectors
     * in {@link #tokenGroups()}, even (the last groups are padded with zero vectors).
     */
    int tokenGroupCount() {
        require(ActivationLayout.TOKEN_GROUPS);
        return tokenGroupCount;
    }

    /**
     * The int8 values as floats, transposed so that the vectors of a group of {@link #GROUP} are the lanes: value e of
     * vector {@code g * GROUP + t} is at {@code (g * rowLength + e) * GROUP + t}. Padding vectors are zero.
     */
    float[] tokenGroups() {
        require(ActivationLayout.TOKEN_GROUPS);
        return tokenGroups;
    }

    /**
     * The scales in the layout of {@link #tokenGroups()}: scale of block k of vector g * GROUP + t at
     * {@code (g * blocks + k) * GROUP + t}, blocks = rowLength / the format's block size.
     */
    float[] tokenGroupScales() {
        require(ActivationLayout.TOKEN_GROUPS);
        return tokenGroupScales;
    }

    /**
     * Q8_K: {@link #groupSums()} in the layout of {@link #tokenGroups()}, as floats (exact): sum c of vector
     * g * GROUP + t at {@code (g * rowLength / 16 + c) * GROUP + t}. Q8_1: {@link #sums()} likewise, one per block of
     * 32 ({@code rowLength / 32} per vector).
     */
    float[] tokenGroupSums() {
        require(ActivationLayout.TOKEN_GROUPS);
        return tokenGroupSums;
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
        require(ActivationLayout.NIBBLE_PAIRS);
        return nibblePairs;
    }

    /**
     * True when {@link #nibblePairs()} holds this batch's layout and no value is -128, so that every Q4_0 block sum
     * sum((q - 8) x) lies within [-32512, 32512] and can be computed modulo 2^16.
     */
    boolean nibblePairsUsable() {
        return has(ActivationLayout.NIBBLE_PAIRS) && nibblePairsUsable;
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

    private static void toTokenGroups(byte[] q, float[] scales, int rowLength, int block, int batch, int groups,
            float[] out, float[] outScales) {
        int blocks = rowLength / block;
        java.util.Arrays.fill(out, 0, groups * GROUP * rowLength, 0f);
        java.util.Arrays.fill(outScales, 0, groups * GROUP * blocks, 0f);
        for (int v = 0; v < batch; v++) {
            int g = v / GROUP;
            int t = v % GROUP;
            int base = g * rowLength * GROUP + t;
            int from = v * rowLength;
            for (int e = 0; e < rowLength; e++) {
                out[base + e * GROUP] = q[from + e];
            }
            for (int k = 0; k < blocks; k++) {
                outScales[(g * blocks + k) * GROUP + t] = scales[v * blocks + k];
            }
        }
    }

    /** The int sums (Q8_K) or the float sums (Q8_1), {@code chunks} per vector, in the layout of {@link #tokenGroupSums()}. */
    private static void toTokenGroupSums(int[] intSums, float[] floatSums, int chunks, int batch, int groups,
            float[] out) {
        java.util.Arrays.fill(out, 0, groups * GROUP * chunks, 0f);
        for (int v = 0; v < batch; v++) {
            int g = v / GROUP;
            int t = v % GROUP;
            for (int c = 0; c < chunks; c++) {
                out[(g * chunks + c) * GROUP + t] = intSums != null ? intSums[v * chunks + c] : floatSums[v * chunks + c];
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
            if (Q8_VECTOR && quantizeQ8Vector(x, start, q, scales, sums)) {
                continue;
            }
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

    /**
     * ggml's {@code quantize_row_q8_K_ref} of {@code x[offset .. offset + count)} into {@code q[offset ..]},
     * {@code scales[offset / 256 ..]} and {@code groupSums[offset / 16 ..]}. offset and count are multiples of 256.
     */
    static void quantizeQ8K(float[] x, int offset, int count, byte[] q, float[] scales, int[] groupSums) {
        int block = ActivationFormat.Q8_K.blockSize();
        for (int start = offset; start < offset + count; start += block) {
            float max = 0f;
            float amax = 0f;
            for (int i = start; i < start + block; i++) {
                float ax = Math.abs(x[i]);
                if (ax > amax) {
                    amax = ax;
                    max = x[i];
                }
            }
            if (amax == 0f) {
                java.util.Arrays.fill(q, start, start + block, (byte) 0);
                java.util.Arrays.fill(groupSums, start / Q8K_GROUP, (start + block) / Q8K_GROUP, 0);
                scales[start / block] = 0f;
                continue;
            }
            float iscale = -127f / max;
            for (int i = start; i < start + block; i++) {
                q[i] = (byte) Math.min(127, nearestInt(iscale * x[i]));
            }
            for (int g = start; g < start + block; g += Q8K_GROUP) {
                int sum = 0;
                for (int i = g; i < g + Q8K_GROUP; i++) {
                    sum += q[i];
                }
                groupSums[g / Q8K_GROUP] = sum;
            }
            scales[start / block] = 1f / iscale;
        }
    }

    /**
     * ggml's {@code nearest_int}: adds 1.5 * 2^23 so that the float addition rounds to an integer (to nearest even) and
     * reads it from the mantissa; for |v| below 2^22 that is {@code Math.rint(v)}, and like ggml it gives 0 for NaN.
     */
    static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912f) & 0x007FFFFF) - 0x00400000;
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> F512 = jdk.incubator.vector.FloatVector.SPECIES_512;
    /** Whether {@link #quantizeQ8Vector} runs on 16-lane vectors (AVX-512). */
    private static final boolean Q8_VECTOR = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() >= 16;

    /**
     * One block of {@link #quantizeQ8} in two 16-lane vectors, the same floats and ints: amax by lane-wise maxima
     * (Math.max's order does not matter for a maximum), the products {@code x * id} as in the scalar form, and
     * rint by adding and subtracting 1.5 * 2^23 (exact round-half-even for |v| < 2^22; here |v| <= 127 * (1 + 2^-22)
     * since |x| <= amax). Returns false, having written nothing, when amax is not finite (then the scalar form gives
     * ggml's INT_MIN and saturation).
     */
    private static boolean quantizeQ8Vector(float[] x, int start, byte[] q, float[] scales, float[] sums) {
        jdk.incubator.vector.FloatVector lo = jdk.incubator.vector.FloatVector.fromArray(F512, x, start);
        jdk.incubator.vector.FloatVector hi = jdk.incubator.vector.FloatVector.fromArray(F512, x, start + 16);
        float amax = lo.abs().max(hi.abs()).reduceLanes(jdk.incubator.vector.VectorOperators.MAX);
        if (!Float.isFinite(amax)) {
            return false;
        }
        float d = amax / 127f;
        float id = amax != 0f ? 127f / amax : 0f;
        final float magic = 0x1.8p23f;
        jdk.incubator.vector.IntVector a = (jdk.incubator.vector.IntVector) lo.mul(id).add(magic).sub(magic)
                .convert(jdk.incubator.vector.VectorOperators.F2I, 0);
        jdk.incubator.vector.IntVector b = (jdk.incubator.vector.IntVector) hi.mul(id).add(magic).sub(magic)
                .convert(jdk.incubator.vector.VectorOperators.F2I, 0);
        a.max(-128).min(127).convertShape(jdk.incubator.vector.VectorOperators.I2B,
                jdk.incubator.vector.ByteVector.SPECIES_128, 0).reinterpretAsBytes().intoArray(q, start);
        b.max(-128).min(127).convertShape(jdk.incubator.vector.VectorOperators.I2B,
                jdk.incubator.vector.ByteVector.SPECIES_128, 0).reinterpretAsBytes().intoArray(q, start + 16);
        int block = start / BLOCK;
        scales[block] = roundToHalf(d);
        if (sums != null) {
            int sum = a.add(b).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
            sums[block] = roundToHalf(d * sum);
        }
        return true;
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
