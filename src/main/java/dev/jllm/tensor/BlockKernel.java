package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
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
 * The kernel of every block type, built on the type's {@link BlockDecoder}: a run of blocks is decoded into integers
 * ({@link UnpackedBlocks}) and every operation works on those, so that a type is its decoding and nothing else. A type
 * may add its own tiled product ({@link RowTiles}); the kernel's dot product stays the definition it must match.
 *
 * <p>Two summation orders for the dot product over prepared activations (the float steps; integer sums are exact in
 * any order):
 * <ul>
 * <li>{@link SumOrder#GGML_LANES}, what ggml's x86 dot products do for every type jllm runs except repacked Q4_0
 * ({@code ggml_vec_dot_*_q8_0 / _q8_1 / _q8_K} and llamafile's tinyBLAS), so that results are llama.cpp's bit for
 * bit and no 8-bit rounding of the next activations flips: eight int32 lanes, lane k summing elements 4k .. 4k+3 of
 * every 32 values of a block (times their scale), each lane folded into its own float accumulator by
 * {@code fma((float) laneSum, d_w * d_x, acc_k)} once per block, the eight accumulators summed as
 * {@link KernelVectors#sumOfEight}; the minimum terms as each ggml kernel adds them ({@link MinimumSum}).</li>
 * <li>{@link SumOrder#BLOCK_SUMS}, Q4_0 as ggml multiplies it once repacked: per block the exact integer sum, then
 * {@code acc = fma((float) isum, d_w * d_x, acc)}, block after block.</li>
 * </ul>
 * Any kernel that computes the same integers (in whatever order or layout) and then the same float steps gives the
 * same float: that is what keeps decoding, batched products and (later) repacked layouts bit-identical.
 */
final class BlockKernel implements Kernel {

    /** See the class comment. */
    enum SumOrder {
        GGML_LANES, BLOCK_SUMS
    }

    /**
     * Where ggml's x86 kernel puts the minimum terms of a {@link SumOrder#GGML_LANES} dot product (d_x is the
     * activation block's scale, s_x Q8_1's fp16 s, S_j the activation sum over 16 values j, T_j over 32 values j).
     */
    enum MinimumSum {
        /** No minimums. */
        NONE,
        /** Q4_1, Q5_1 ({@code ggml_vec_dot_q4_1_q8_1}): {@code mins += m_w * s_x} (multiply, then add) per block, added last. */
        PRODUCTS_APART,
        /**
         * Q2_K: per block, before the scales, lane m takes {@code fma((float) (min_2m S_2m + min_2m+1 S_2m+1),
         * -(d_x * dmin_w), acc_m)}.
         */
        IN_LANES,
        /**
         * Q4_K: four accumulators apart, lane m taking {@code fma((float) (min_2m T_2m + min_2m+1 T_2m+1),
         * -(d_x * dmin_w), accMin_m)} per block; added last as (m0 + m2) + (m1 + m3).
         */
        FOUR_LANES_APART,
        /** Q5_K: one accumulator apart, {@code fma(-(d_x * dmin_w), (float) sum(min_j T_j), accMin)} per block; added last. */
        ONE_APART
    }

    /** Blocks decoded per call of the decoder, for long rows and whole tensors. */
    private static final int CHUNK_VALUES = 8192;

    /** True when the 512-bit products of the batch tiles and {@link #scaledQuants} are compiled. */
    static final boolean WIDE = KernelVectors.FLOAT_LANES == 16;

    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I256 = IntVector.SPECIES_256;
    private static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    private static final VectorSpecies<Float> F256 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
    private static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
    private static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    /** Lanes 8 .. 15 of a 16-lane int vector: the pairs of the second 16 values of 32. */
    private static final VectorMask<Integer> UPPER_EIGHT = VectorMask.fromLong(IntVector.SPECIES_512, 0xFF00L);

    private static final ThreadLocal<UnpackedBlocks> UNPACKED = ThreadLocal.withInitial(UnpackedBlocks::new);
    private static final ThreadLocal<float[]> VALUES = ThreadLocal.withInitial(() -> new float[CHUNK_VALUES]);

    final BlockDecoder blocks;
    final SumOrder order;
    final MinimumSum minimumSum;
    private final ActivationFormat format;
    private final RowTiles tiles;
    private final BlockKernel rowsOf8;
    private static final Set<ActivationLayout> DOT_LAYOUTS = EnumSet.of(ActivationLayout.SHORTS);

    /**
     * @param tiles   the type's tiled product, or null for one dot product per (row, vector)
     * @param rowsOf8 the kernel for matrices whose row count is a multiple of 8 (ggml repacks those), or null
     */
    BlockKernel(BlockDecoder blocks, ActivationFormat format, SumOrder order, MinimumSum minimumSum, RowTiles tiles,
            BlockKernel rowsOf8) {
        this.blocks = blocks;
        this.format = format;
        this.order = order;
        this.minimumSum = minimumSum;
        this.tiles = tiles;
        this.rowsOf8 = rowsOf8;
        boolean minimumFits = switch (blocks.minimum) {
            case NONE -> minimumSum == MinimumSum.NONE;
            case ADDED -> minimumSum == MinimumSum.PRODUCTS_APART && format == ActivationFormat.Q8_1;
            case SCALED -> format == ActivationFormat.Q8_K && (minimumSum == MinimumSum.IN_LANES
                    || minimumSum == MinimumSum.FOUR_LANES_APART || minimumSum == MinimumSum.ONE_APART);
        };
        boolean fits = minimumFits && format.blockSize() == blocks.blockSize
                && (order == SumOrder.GGML_LANES || blocks.minimum == BlockDecoder.Minimum.NONE);
        if (!fits) {
            throw new IllegalArgumentException(blocks.type + " cannot be multiplied with " + format + " in " + order
                    + " with minimums " + minimumSum);
        }
    }

    @Override
    public ActivationFormat activationFormat() {
        return format;
    }

    @Override
    public Kernel forProduct(int cols, long rows, int batch) {
        return rowsOf8 != null && rows % 8 == 0 ? rowsOf8 : this;
    }

    @Override
    public Set<ActivationLayout> dotLayouts() {
        return DOT_LAYOUTS;
    }

    @Override
    public Set<ActivationLayout> productLayouts(int rows, int batch) {
        return tiles == null ? DOT_LAYOUTS : tiles.layouts(this, rows, batch);
    }

    @Override
    public int rowTile(int batch) {
        return tiles == null ? 0 : tiles.rowTile(batch);
    }

    @Override
    public void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows, PreparedActivations x,
            float[] out) {
        if (tiles == null) {
            Kernel.super.productRows(data, cols, rowStart, rowEnd, rows, x, out);
        } else {
            tiles.productRows(this, data, cols, rowStart, rowEnd, rows, x, out);
        }
    }

    /** Blocks per call of the decoder. */
    int chunkBlocks() {
        return Math.max(1, CHUNK_VALUES / blocks.blockSize);
    }

    @Override
    public void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        KernelVectors.checkBlocks(first, count, blocks.blockSize);
        UnpackedBlocks u = UNPACKED.get();
        int size = blocks.blockSize;
        long firstBlock = first / size;
        int total = count / size;
        for (int done = 0; done < total; ) {
            int n = Math.min(chunkBlocks(), total - done);
            blocks.unpack(data, firstBlock + done, n, u.ensure(n, size));
            values(u, n, out, outOffset + done * size);
            done += n;
        }
    }

    /** The values of the first {@code n} unpacked blocks, rounded as gguf-py computes them (see {@link BlockDecoder}). */
    private void values(UnpackedBlocks u, int n, float[] out, int at) {
        int size = blocks.blockSize;
        for (int k = 0; k < n; k++) {
            float d = u.d[k];
            for (int g = 0; g < size / BlockDecoder.SCALE_GROUP; g++) {
                int slot = k * size / BlockDecoder.SCALE_GROUP + g;
                int e = k * size + g * BlockDecoder.SCALE_GROUP;
                float ds = blocks.hasScales ? d * u.scales[slot] : d;
                switch (blocks.minimum) {
                    case NONE -> {
                        for (int i = e; i < e + BlockDecoder.SCALE_GROUP; i++) {
                            out[at + i] = ds * u.q[i];
                        }
                    }
                    case ADDED -> {
                        float m = u.dmin[k];
                        for (int i = e; i < e + BlockDecoder.SCALE_GROUP; i++) {
                            out[at + i] = ds * u.q[i] + m;
                        }
                    }
                    case SCALED -> {
                        float m = u.dmin[k] * u.mins[slot];
                        for (int i = e; i < e + BlockDecoder.SCALE_GROUP; i++) {
                            out[at + i] = ds * u.q[i] - m;
                        }
                    }
                }
            }
        }
    }

    /** The dequantized values times x, summed in float (vector lanes, then a fixed-order reduction). */
    @Override
    public float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, blocks.blockSize);
        float[] values = VALUES.get();
        FloatVector acc = FloatVector.zero(KernelVectors.FLOATS);
        int lanes = KernelVectors.FLOAT_LANES;
        for (int done = 0; done < count; ) {
            int n = Math.min(CHUNK_VALUES / blocks.blockSize * blocks.blockSize, count - done);
            dequantize(data, first + done, n, values, 0);
            for (int i = 0; i < n; i += lanes) {
                acc = FloatVector.fromArray(KernelVectors.FLOATS, values, i)
                        .fma(FloatVector.fromArray(KernelVectors.FLOATS, x, xOffset + done + i), acc);
            }
            done += n;
        }
        return KernelVectors.sum(acc);
    }

    @Override
    public float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        KernelVectors.checkBlocks(first, count, blocks.blockSize);
        if (x.format() != format) {
            throw new IllegalArgumentException("activations prepared as " + x.format() + ", expected " + format);
        }
        if (xOffset % format.blockSize() != 0) {
            throw new IllegalArgumentException("activation offset " + xOffset + " does not start a block of "
                    + format.blockSize());
        }
        return order == SumOrder.GGML_LANES ? dotLanes(data, first, count, x, xOffset)
                : dotBlockSums(data, first, count, x, xOffset);
    }

    private float dotLanes(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        short[] a = x.shorts();
        float[] xd = x.scales();
        float[] xs = minimumSum == MinimumSum.PRODUCTS_APART ? x.sums() : null;
        int[] groupSums = blocks.minimum == BlockDecoder.Minimum.SCALED ? x.groupSums() : null;
        int size = blocks.blockSize;
        UnpackedBlocks u = UNPACKED.get();
        FloatVector acc = FloatVector.zero(F256);
        float minLane0 = 0f, minLane1 = 0f, minLane2 = 0f, minLane3 = 0f;
        float mins = 0f;
        long firstBlock = first / size;
        int total = count / size;
        for (int done = 0; done < total; ) {
            int n = Math.min(chunkBlocks(), total - done);
            blocks.unpack(data, firstBlock + done, n, u.ensure(n, size));
            for (int k = 0; k < n; k++) {
                int at = xOffset + (done + k) * size;
                int xBlock = at / size;
                float dx = xd[xBlock];
                switch (minimumSum) {
                    case NONE -> {
                    }
                    case PRODUCTS_APART -> mins += u.dmin[k] * xs[xBlock];
                    case IN_LANES -> acc = minimumPairs(u, k * 16, groupSums, at / BlockDecoder.SCALE_GROUP)
                            .fma(FloatVector.broadcast(F256, -(dx * u.dmin[k])), acc);
                    case FOUR_LANES_APART -> {
                        float dmin = -(dx * u.dmin[k]);
                        int slot = k * 16;
                        int g = at / BlockDecoder.SCALE_GROUP;
                        minLane0 = Math.fma((float) fourLane(u, slot, groupSums, g), dmin, minLane0);
                        minLane1 = Math.fma((float) fourLane(u, slot + 4, groupSums, g + 4), dmin, minLane1);
                        minLane2 = Math.fma((float) fourLane(u, slot + 8, groupSums, g + 8), dmin, minLane2);
                        minLane3 = Math.fma((float) fourLane(u, slot + 12, groupSums, g + 12), dmin, minLane3);
                    }
                    case ONE_APART -> {
                        int g = at / BlockDecoder.SCALE_GROUP;
                        int sum = 0;
                        for (int j = 0; j < 16; j++) {
                            sum += u.mins[k * 16 + j] * groupSums[g + j];
                        }
                        mins = Math.fma(-(dx * u.dmin[k]), (float) sum, mins);
                    }
                }
                FloatVector lanes = WIDE ? laneSums(u, k, a, at) : laneSumsNarrow(u, k, a, at);
                acc = lanes.fma(FloatVector.broadcast(F256, u.d[k] * dx), acc);
            }
            done += n;
        }
        float result = ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6)))
                + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
        return switch (minimumSum) {
            case NONE, IN_LANES -> result;
            case PRODUCTS_APART, ONE_APART -> result + mins;
            case FOUR_LANES_APART -> result + ((minLane0 + minLane2) + (minLane1 + minLane3));
        };
    }

    /**
     * The eight int lane sums of unpacked block k against the activation shorts from {@code at} (lane j: values
     * 4j .. 4j+3 of every 32, times their scale), as floats (exact: each is below 2^24). Products of quants and
     * activations in 16-bit lanes (|q a| is at most 128 * 128), summed in pairs as ints, times the scale, accumulated
     * over the block, and the pairs of pairs added as longs. (Kept small: C2 must inline it, or the vector it returns
     * would be allocated.)
     */
    private FloatVector laneSums(UnpackedBlocks u, int k, short[] a, int at) {
        int size = blocks.blockSize;
        IntVector pairs = IntVector.zero(I512);
        for (int c = 0; c < size; c += 32) {
            int q = k * size + c;
            IntVector p = ((ShortVector) ByteVector.fromArray(B256, u.q, q)
                    .convertShape(VectorOperators.B2S, S512, 0)).mul(ShortVector.fromArray(S512, a, at + c))
                    .reinterpretAsInts();
            IntVector pair = p.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(p.lanewise(VectorOperators.ASHR, 16));
            if (blocks.hasScales) {
                int g = q / BlockDecoder.SCALE_GROUP;
                pair = pair.mul(IntVector.broadcast(I512, u.scales[g]).blend(u.scales[g + 1], UPPER_EIGHT));
            }
            pairs = pairs.add(pair);
        }
        LongVector longs = pairs.reinterpretAsLongs();
        return (FloatVector) longs.lanewise(VectorOperators.LSHL, 32).lanewise(VectorOperators.ASHR, 32)
                .add(longs.lanewise(VectorOperators.ASHR, 32)).convertShape(VectorOperators.L2F, F256, 0);
    }

    /** As {@link #laneSums} in 256-bit (and narrower) vectors, for CPUs without 512-bit ones. */
    private FloatVector laneSumsNarrow(UnpackedBlocks u, int k, short[] a, int at) {
        int size = blocks.blockSize;
        float[] lanes = new float[8];
        for (int half = 0; half < 2; half++) {
            IntVector pairs = IntVector.zero(I256);
            for (int c = 16 * half; c < size; c += 32) {
                pairs = pairs.add(scaledPairs(u, k * size + c, a, at + c));
            }
            for (int j = 0; j < 4; j++) {
                lanes[4 * half + j] = pairs.lane(2 * j) + pairs.lane(2 * j + 1);
            }
        }
        return FloatVector.fromArray(F256, lanes, 0);
    }

    /**
     * Unpacked quants {@code q .. q + 16} (one scale group) times activation shorts {@code at .. at + 16}, in 16-bit
     * lanes, summed in pairs (lane m: values 2m and 2m + 1) and times the group's scale.
     */
    private IntVector scaledPairs(UnpackedBlocks u, int q, short[] a, int at) {
        ShortVector products = ((ShortVector) ByteVector.fromArray(B128, u.q, q)
                .convertShape(VectorOperators.B2S, S256, 0)).mul(ShortVector.fromArray(S256, a, at));
        IntVector p = products.reinterpretAsInts();
        IntVector pairs = p.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                .add(p.lanewise(VectorOperators.ASHR, 16));
        return blocks.hasScales ? pairs.mul(u.scales[q / BlockDecoder.SCALE_GROUP]) : pairs;
    }

    /** Q2_K's minimum products, lane m: min_2m S_2m + min_2m+1 S_2m+1 (exact), as floats. */
    private static FloatVector minimumPairs(UnpackedBlocks u, int slot, int[] groupSums, int g) {
        float[] pairs = new float[8];
        for (int m = 0; m < 8; m++) {
            pairs[m] = u.mins[slot + 2 * m] * groupSums[g + 2 * m] + u.mins[slot + 2 * m + 1] * groupSums[g + 2 * m + 1];
        }
        return FloatVector.fromArray(F256, pairs, 0);
    }

    /** Q4_K's minimum lane: min_2m T_2m + min_2m+1 T_2m+1 (T: the activation sums over 32 values) from slot 4m. */
    private static int fourLane(UnpackedBlocks u, int slot, int[] groupSums, int g) {
        return u.mins[slot] * (groupSums[g] + groupSums[g + 1]) + u.mins[slot + 2] * (groupSums[g + 2] + groupSums[g + 3]);
    }

    private float dotBlockSums(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        short[] a = x.shorts();
        float[] xd = x.scales();
        int size = blocks.blockSize;
        UnpackedBlocks u = UNPACKED.get();
        float acc = 0f;
        long firstBlock = first / size;
        int total = count / size;
        for (int done = 0; done < total; ) {
            int n = Math.min(chunkBlocks(), total - done);
            blocks.unpack(data, firstBlock + done, n, u.ensure(n, size));
            for (int k = 0; k < n; k++) {
                int at = xOffset + (done + k) * size;
                IntVector pairs = IntVector.zero(I256);
                for (int c = 0; c < size; c += 16) {
                    pairs = pairs.add(scaledPairs(u, k * size + c, a, at + c));
                }
                acc = Math.fma((float) pairs.reduceLanes(VectorOperators.ADD), u.d[k] * xd[at / size], acc);
            }
            done += n;
        }
        return acc;
    }

    /**
     * Unpacked weights {@code from .. from + count} (count a multiple of 16) as floats {@code scale * q} (exact:
     * |scale * q| is at most 4096 for every type), into {@code w[at ..]}: what the batch tiles broadcast.
     */
    void scaledQuants(UnpackedBlocks u, int from, int count, float[] w, int at) {
        if (!WIDE) {
            for (int i = from; i < from + count; i++) {
                w[at + i - from] = blocks.hasScales ? (float) (u.q[i] * u.scales[i / BlockDecoder.SCALE_GROUP]) : u.q[i];
            }
            return;
        }
        for (int i = from; i < from + count; i += 16) {
            FloatVector v = (FloatVector) ByteVector.fromArray(B128, u.q, i).convertShape(VectorOperators.B2F, F512, 0);
            if (blocks.hasScales) {
                v = v.mul(u.scales[i / BlockDecoder.SCALE_GROUP]);
            }
            v.intoArray(w, at + i - from);
        }
    }

    @Override
    public String toString() {
        return blocks.type + " (" + order + ", " + format + ")";
    }
}
