package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Set;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decoding (one vector) for Q4_K and Q6_K, the types of a Q4_K_M file, straight from the mapped bytes: the quants are
 * taken out of their nibbles and bit pairs in 16-bit lanes and multiplied at once, without the round trip through
 * {@link UnpackedBlocks}; the float steps are the kernel's ({@link BlockKernel.SumOrder#GGML_LANES}), so the results
 * are its dot product's bit for bit. Batches go to {@link LaneTiles}.
 */
final class KDecodeTiles implements RowTiles {

    static final KDecodeTiles Q4_K = new KDecodeTiles(GgmlType.Q4_K);
    static final KDecodeTiles Q6_K = new KDecodeTiles(GgmlType.Q6_K);

    /** Rows per task of the thread pool. */
    private static final int ROWS = 16;

    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
    private static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    private static final VectorSpecies<Float> F256 = FloatVector.SPECIES_256;
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VectorMask<Integer> UPPER_EIGHT = VectorMask.fromLong(I512, 0xFF00L);

    private static final ThreadLocal<short[]> SCALES = ThreadLocal.withInitial(() -> new short[16]);

    private final GgmlType type;

    private KDecodeTiles(GgmlType type) {
        this.type = type;
    }

    @Override
    public int rowTile(int batch) {
        return BlockTiles.AVAILABLE ? (batch == 1 ? ROWS : LaneTiles.INSTANCE.rowTile(batch)) : 0;
    }

    @Override
    public Set<ActivationLayout> layouts(BlockKernel kernel, int rows, int batch) {
        return batch == 1 ? kernel.dotLayouts() : LaneTiles.INSTANCE.layouts(kernel, rows, batch);
    }

    @Override
    public void productRows(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out) {
        if (x.batch() > 1) {
            LaneTiles.INSTANCE.productRows(kernel, data, cols, rowStart, rowEnd, rows, x, out);
            return;
        }
        short[] scales = SCALES.get();
        for (int r = rowStart; r < rowEnd; r++) {
            out[r] = type == GgmlType.Q4_K ? q4k(data, r, cols, x) : q6k(data, r, cols, x, scales);
        }
    }

    /**
     * Row r of a Q4_K matrix times the one prepared vector. Per block: the eight lane sums of
     * {@code scale * q * a} in 16 int lanes of pairs, then four float lanes of the minimum terms apart, as
     * {@code ggml_vec_dot_q4_K_q8_K}.
     */
    private static float q4k(MemorySegment data, int r, int cols, PreparedActivations x) {
        short[] a = x.shorts();
        float[] xd = x.scales();
        int[] groupSums = x.groupSums();
        int blocks = cols / 256;
        long at = (long) r * blocks * 144;
        FloatVector acc = FloatVector.zero(F256);
        float m0 = 0f, m1 = 0f, m2 = 0f, m3 = 0f;
        for (int b = 0; b < blocks; b++, at += 144) {
            // get_scale_min_k4 in two words (scalar work runs beside the vector work; storing the scales from a
            // vector and reading them back one by one cost a quarter of the time): bytes 0-3 of packed hold scales
            // 0-3, bytes 4-7 minimums 0-3 (low 6 bits, their top 2 bits the high bits of scales and minimums 4-7),
            // the nibbles of top the low 4 bits of scales (low nibble) and minimums (high nibble) 4-7.
            long packed = data.get(BlockBits.LONG_LE, at + 4);
            int top = data.get(INT_LE, at + 12);
            long low6 = packed & 0x3F3F3F3F3F3F3F3FL;
            int scales47 = (top & 0x0F0F0F0F) | (((int) (packed >>> 6) & 0x03030303) << 4);
            int mins47 = ((top >>> 4) & 0x0F0F0F0F) | (((int) (packed >>> 38) & 0x03030303) << 4);
            long sc = (low6 & 0xFFFFFFFFL) | ((long) scales47 << 32);
            long mn = (low6 >>> 32) | ((long) mins47 << 32);
            float dx = xd[b];
            float dmin = -(dx * BlockBits.f16(data, at + 2));
            int g = 16 * b;
            m0 = Math.fma((float) ((int) (mn & 0xFF) * (groupSums[g] + groupSums[g + 1])
                    + (int) ((mn >>> 8) & 0xFF) * (groupSums[g + 2] + groupSums[g + 3])), dmin, m0);
            m1 = Math.fma((float) ((int) ((mn >>> 16) & 0xFF) * (groupSums[g + 4] + groupSums[g + 5])
                    + (int) ((mn >>> 24) & 0xFF) * (groupSums[g + 6] + groupSums[g + 7])), dmin, m1);
            m2 = Math.fma((float) ((int) ((mn >>> 32) & 0xFF) * (groupSums[g + 8] + groupSums[g + 9])
                    + (int) ((mn >>> 40) & 0xFF) * (groupSums[g + 10] + groupSums[g + 11])), dmin, m2);
            m3 = Math.fma((float) ((int) ((mn >>> 48) & 0xFF) * (groupSums[g + 12] + groupSums[g + 13])
                    + (int) (mn >>> 56) * (groupSums[g + 14] + groupSums[g + 15])), dmin, m3);
            IntVector pairs = IntVector.zero(I512);
            int xa = 256 * b;
            for (int c = 0; c < 4; c++) {
                ShortVector v = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 16 + 32 * c,
                        ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_B2S, S512, 0);
                IntVector low = v.and((short) 0x0F).mul(ShortVector.fromArray(S512, a, xa + 64 * c))
                        .reinterpretAsInts();
                IntVector high = v.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S512, a, xa + 64 * c + 32))
                        .reinterpretAsInts();
                // ((p << 16) + p) >> 16: the sum of the two 16-bit products in an int lane (|sum| < 2^15); the
                // same with 32 bits below for pairs of int lanes
                low = low.lanewise(VectorOperators.LSHL, 16).add(low).lanewise(VectorOperators.ASHR, 16)
                        .mul((int) (sc >>> (16 * c)) & 0xFF);
                high = high.lanewise(VectorOperators.LSHL, 16).add(high).lanewise(VectorOperators.ASHR, 16)
                        .mul((int) (sc >>> (16 * c + 8)) & 0xFF);
                pairs = pairs.add(low).add(high);
            }
            LongVector longs = pairs.reinterpretAsLongs();
            FloatVector lanes = (FloatVector) longs.lanewise(VectorOperators.LSHL, 32).add(longs)
                    .lanewise(VectorOperators.ASHR, 32).convertShape(VectorOperators.L2F, F256, 0);
            acc = lanes.fma(FloatVector.broadcast(F256, BlockBits.f16(data, at) * dx), acc);
        }
        float result = ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6)))
                + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
        return result + ((m0 + m2) + (m1 + m3));
    }

    /** Row r of a Q6_K matrix times the one prepared vector, as {@code ggml_vec_dot_q6_K_q8_K}. */
    private static float q6k(MemorySegment data, int r, int cols, PreparedActivations x, short[] scales) {
        short[] a = x.shorts();
        float[] xd = x.scales();
        int blocks = cols / 256;
        long at = (long) r * blocks * 210;
        FloatVector acc = FloatVector.zero(F256);
        for (int b = 0; b < blocks; b++, at += 210) {
            ((ShortVector) ByteVector.fromMemorySegment(B128, data, at + 192, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.B2S, S256, 0)).intoArray(scales, 0);
            IntVector pairs = IntVector.zero(I512);
            int xa = 256 * b;
            for (int n = 0; n < 2; n++) {
                ShortVector low0 = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 64 * n,
                        ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_B2S, S512, 0);
                ShortVector low1 = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 64 * n + 32,
                        ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_B2S, S512, 0);
                ShortVector high = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 128 + 32 * n,
                        ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_B2S, S512, 0);
                // Run k of 32 values: low nibbles (k < 2) or high nibbles of ql run k % 2, bit pair k of qh. One loop
                // body, no helper: C2 stops inlining once a method is large, and a vector left out of line is
                // allocated.
                for (int k = 0; k < 4; k++) {
                    ShortVector nibbles = ((k & 1) == 0 ? low0 : low1).lanewise(VectorOperators.LSHR, 4 * (k >> 1))
                            .and((short) 0x0F);
                    ShortVector q = nibbles.or(high.lanewise(VectorOperators.LSHR, 2 * k).and((short) 3)
                            .lanewise(VectorOperators.LSHL, 4)).sub((short) 32);
                    IntVector p = q.mul(ShortVector.fromArray(S512, a, xa + 128 * n + 32 * k)).reinterpretAsInts();
                    int s = 8 * n + 2 * k;
                    pairs = pairs.add(p.lanewise(VectorOperators.LSHL, 16).add(p).lanewise(VectorOperators.ASHR, 16)
                            .mul(IntVector.broadcast(I512, scales[s]).blend(scales[s + 1], UPPER_EIGHT)));
                }
            }
            LongVector longs = pairs.reinterpretAsLongs();
            FloatVector lanes = (FloatVector) longs.lanewise(VectorOperators.LSHL, 32).add(longs)
                    .lanewise(VectorOperators.ASHR, 32).convertShape(VectorOperators.L2F, F256, 0);
            acc = lanes.fma(FloatVector.broadcast(F256, BlockBits.f16(data, at + 208) * xd[b]), acc);
        }
        return ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6)))
                + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
    }
}
