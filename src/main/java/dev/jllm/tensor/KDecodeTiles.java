package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
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
    private static final VectorMask<Integer> UPPER_EIGHT = VectorMask.fromLong(I512, 0xFF00L);

    private static final ThreadLocal<short[][]> SCALES = ThreadLocal.withInitial(() -> new short[2][16]);

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
        short[][] scratch = SCALES.get();
        for (int r = rowStart; r < rowEnd; r++) {
            out[r] = type == GgmlType.Q4_K ? q4k(data, r, cols, x, scratch[0], scratch[1]) : q6k(data, r, cols, x,
                    scratch[0]);
        }
    }

    /**
     * Row r of a Q4_K matrix times the one prepared vector. Per block: the eight lane sums of
     * {@code scale * q * a} in 16 int lanes of pairs, then four float lanes of the minimum terms apart, as
     * {@code ggml_vec_dot_q4_K_q8_K}.
     */
    private static float q4k(MemorySegment data, int r, int cols, PreparedActivations x, short[] scales,
            short[] mins) {
        short[] a = x.shorts();
        float[] xd = x.scales();
        int[] groupSums = x.groupSums();
        int blocks = cols / 256;
        long at = (long) r * blocks * 144;
        FloatVector acc = FloatVector.zero(F256);
        float m0 = 0f, m1 = 0f, m2 = 0f, m3 = 0f;
        for (int b = 0; b < blocks; b++, at += 144) {
            BlockBits.scaleMinK4(data, at + 4, scales, mins, 0);
            float dx = xd[b];
            float dmin = -(dx * BlockBits.f16(data, at + 2));
            int g = 16 * b;
            m0 = Math.fma((float) (mins[0] * (groupSums[g] + groupSums[g + 1])
                    + mins[2] * (groupSums[g + 2] + groupSums[g + 3])), dmin, m0);
            m1 = Math.fma((float) (mins[4] * (groupSums[g + 4] + groupSums[g + 5])
                    + mins[6] * (groupSums[g + 6] + groupSums[g + 7])), dmin, m1);
            m2 = Math.fma((float) (mins[8] * (groupSums[g + 8] + groupSums[g + 9])
                    + mins[10] * (groupSums[g + 10] + groupSums[g + 11])), dmin, m2);
            m3 = Math.fma((float) (mins[12] * (groupSums[g + 12] + groupSums[g + 13])
                    + mins[14] * (groupSums[g + 14] + groupSums[g + 15])), dmin, m3);
            IntVector pairs = IntVector.zero(I512);
            int xa = 256 * b;
            for (int c = 0; c < 4; c++) {
                ShortVector v = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 16 + 32 * c,
                        ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_B2S, S512, 0);
                IntVector low = v.and((short) 0x0F).mul(ShortVector.fromArray(S512, a, xa + 64 * c))
                        .reinterpretAsInts();
                IntVector high = v.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S512, a, xa + 64 * c + 32))
                        .reinterpretAsInts();
                low = low.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .add(low.lanewise(VectorOperators.ASHR, 16)).mul(scales[4 * c]);
                high = high.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .add(high.lanewise(VectorOperators.ASHR, 16)).mul(scales[4 * c + 2]);
                pairs = pairs.add(low).add(high);
            }
            LongVector longs = pairs.reinterpretAsLongs();
            FloatVector lanes = (FloatVector) longs.lanewise(VectorOperators.LSHL, 32)
                    .lanewise(VectorOperators.ASHR, 32).add(longs.lanewise(VectorOperators.ASHR, 32))
                    .convertShape(VectorOperators.L2F, F256, 0);
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
                    pairs = pairs.add(p.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                            .add(p.lanewise(VectorOperators.ASHR, 16))
                            .mul(IntVector.broadcast(I512, scales[s]).blend(scales[s + 1], UPPER_EIGHT)));
                }
            }
            LongVector longs = pairs.reinterpretAsLongs();
            FloatVector lanes = (FloatVector) longs.lanewise(VectorOperators.LSHL, 32)
                    .lanewise(VectorOperators.ASHR, 32).add(longs.lanewise(VectorOperators.ASHR, 32))
                    .convertShape(VectorOperators.L2F, F256, 0);
            acc = lanes.fma(FloatVector.broadcast(F256, BlockBits.f16(data, at + 208) * xd[b]), acc);
        }
        return ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6)))
                + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
    }
}
