package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Set;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernel of a K-quant matrix (Q4_K, Q5_K, Q6_K) repacked at load ({@link Repacking}) so that output rows are vector
 * lanes, as {@link RepackedKernel} does for Q4_0 and Q8_0, with the activations in {@link ActivationFormat#Q8_K}
 * (256 int8 values with one float scale dx and the int sum of each 16, what the direct K-quant kernels use).
 *
 * <p>Layout: rows in groups of {@link #ROWS}; a group is stored super-block after super-block (256 columns each),
 * and one (group, super-block) holds the 32 rows' quants side by side (the type's arrangement, see its subclass),
 * then their sub-block scales (and minimums) as bytes, 32 rows after 32 rows, then their d (and dmin) as floats (the
 * fp16 values widened, exact), 32 of each. The last group is padded with zero rows. Every (group, super-block) is a
 * multiple of 64 bytes, and the copy starts 64-byte aligned.
 *
 * <p>Arithmetic, for every (row, vector) whatever the batch: per super-block the exact integer
 * {@code T = sum_s scale_s * sum_{i in s} q_i x_i} over its sub-blocks s (and, for types with minimums,
 * {@code M = sum_s min_s * sum_{i in s} x_i}, from the activations' 16-value sums), then
 * {@code acc = fma((float) T, d * dx, acc)} (and {@code acc = fma((float) -M, dmin * dx, acc)}), from the first
 * super-block to the last, one lane per row. {@link #dotPrepared} does exactly that one value at a time, and is
 * the reference the product must equal bit for bit; a token's result never depends on its batch, as each vector of a
 * batch goes through the same integer sums and the same float steps.
 *
 * <p>Work is split as C2 compiles it well (see {@link RepackedKernel}): per group of rows and per chunk of
 * {@link #CHUNK_SUPERS} super-blocks, the 16-bit partial sums of up to four vectors at a time, sharing each weight
 * load ({@link #partialSums}), then per vector the integer scale products ({@link #superSums}), then the float steps
 * ({@link #floatSteps}).
 */
abstract sealed class RepackedKKernel implements Kernel permits RepackedQ4_K, RepackedQ5_K, RepackedQ6_K {

    static final int ROWS = RepackedKernel.ROWS;
    static final int SUPER = 256;
    /** Super-blocks per pass over a group (a chunk's weights stay in L1/L2 while a batch's vectors go over them). */
    static final int CHUNK_SUPERS = 4;
    static final int VECTORS_AT_ONCE = 4;

    static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
    static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    final GgmlType source;
    final int cols;
    final int supers;
    /** Bytes of one (group, super-block). */
    final int groupSuperBytes;
    /** Where the scale bytes start in a (group, super-block): scale slot s of row lane r at {@code 32 * s + r}. */
    final int scalesAt;
    /** Where the minimum bytes start (as the scales), or -1. */
    final int minsAt;
    /** Where the 32 float d start. */
    final int dAt;
    /** Where the 32 float dmin start, or -1. */
    final int dminAt;
    /** Scale slots per super-block (8 of 32 values for Q4_K, 16 of 16 for Q6_K). */
    final int slots;
    /** 16-bit partial sums per super-block and vector (each a multiple of 32 row lanes). */
    final int partials;

    RepackedKKernel(GgmlType source, int cols, int groupSuperBytes, int scalesAt, int minsAt,
            int dAt, int dminAt, int slots, int partials) {
        if (cols % SUPER != 0 || cols <= 0) {
            throw new IllegalArgumentException("row length " + cols + " is not a positive multiple of " + SUPER);
        }
        this.source = source;
        this.cols = cols;
        this.supers = cols / SUPER;
        this.groupSuperBytes = groupSuperBytes;
        this.scalesAt = scalesAt;
        this.minsAt = minsAt;
        this.dAt = dAt;
        this.dminAt = dminAt;
        this.slots = slots;
        this.partials = partials;
        if (partials > MAX_PARTIALS) {
            throw new IllegalArgumentException(partials + " partial sums per super-block");
        }
    }

    /** Bytes of the repacked copy of {@code rows} rows. */
    final long bytesFor(long rows) {
        long groups = (rows + ROWS - 1) / ROWS;
        return Math.multiplyExact(Math.multiplyExact(groups, (long) supers), (long) groupSuperBytes);
    }

    /** Where (group, super-block) starts. */
    final long groupSuper(long group, int superBlock) {
        return (group * supers + superBlock) * groupSuperBytes;
    }

    /**
     * The quant of value {@code i} (0..255) of row lane {@code lane}, as {@link BlockDecoder} gives it (Q6_K's offset
     * removed).
     */
    abstract int quant(MemorySegment data, long at, int lane, int i);

    /**
     * The 16-bit partial sums of super-blocks {@code [0, n)} of the chunk at {@code at} against {@code count} (1 to
     * {@link #VECTORS_AT_ONCE}) vectors whose quants for the chunk start at {@code xq[x0]}, {@code xq[x0 + xStride]},
     * ...: vector j's partial p of super-block k, row lane r, at {@code sums[((j * CHUNK_SUPERS + k) * partials + p)
     * * 32 + r]}.
     */
    abstract void partialSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count,
            short[] sums);

    /**
     * From one vector's partial sums ({@code sums[sumsAt ..]}, as {@link #partialSums} leaves them) of super-blocks
     * {@code [0, n)} of the chunk at {@code at}: per super-block k the integer T of row lane r at
     * {@code t[32 k + r]}, and M at {@code m[32 k + r]} for types with minimums (its 16-value activation sums from
     * {@code groupSums[g0 ..]}).
     */
    abstract void superSums(MemorySegment data, long at, int n, short[] sums, int sumsAt, int[] groupSums, int g0,
            int[] t, int[] m);

    @Override
    public final ActivationFormat activationFormat() {
        return ActivationFormat.Q8_K;
    }

    @Override
    public final Set<ActivationLayout> dotLayouts() {
        return Set.of();
    }

    @Override
    public final int rowTile(int batch) {
        return ROWS;
    }

    // ---------------------------------------------------------------- repacking

    /**
     * Copies groups {@code [firstGroup, endGroup)} of the {@code rows} rows of {@code from} into {@code to}: per group
     * the 32 rows' bytes copied to an array (one bulk copy), the group's repacked bytes built in another with plain
     * scalar code (fast from the first call, before C2 has compiled anything), copied out in one piece.
     */
    final void repackGroups(MemorySegment from, long rows, MemorySegment to, int firstGroup, int endGroup) {
        int rowBytes = supers * source.blockBytes;
        byte[] in = new byte[ROWS * rowBytes];
        byte[] out = new byte[supers * groupSuperBytes];
        for (int g = firstGroup; g < endGroup; g++) {
            int valid = (int) Math.min(ROWS, rows - (long) g * ROWS);
            if (valid < ROWS) {
                java.util.Arrays.fill(out, (byte) 0); // padding rows: zero quants, scales and floats
            }
            MemorySegment.copy(from, java.lang.foreign.ValueLayout.JAVA_BYTE, (long) g * ROWS * rowBytes, in, 0,
                    valid * rowBytes);
            for (int lane = 0; lane < valid; lane++) {
                for (int k = 0; k < supers; k++) {
                    repackBlock(in, lane * rowBytes + k * source.blockBytes, out, k * groupSuperBytes, lane);
                }
            }
            MemorySegment.copy(out, 0, to, java.lang.foreign.ValueLayout.JAVA_BYTE, groupSuper(g, 0), out.length);
        }
    }

    /**
     * Writes the file's block at {@code in[from ..]} as row lane {@code lane} of the (group, super-block) at
     * {@code out[at ..]}: its quants, scales (and minimums), d (and dmin).
     */
    abstract void repackBlock(byte[] in, int from, byte[] out, int at, int lane);

    static float half(byte[] in, int at) {
        return Float.float16ToFloat((short) SHORTS.get(in, at));
    }

    static final java.lang.invoke.VarHandle SHORTS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(short[].class, LE);
    static final java.lang.invoke.VarHandle LONGS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, LE);
    static final java.lang.invoke.VarHandle FLOATS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(float[].class, LE);
    static final java.lang.invoke.VarHandle INTS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(int[].class, LE);
    static final java.lang.foreign.ValueLayout.OfFloat FLOAT_LE =
            java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    // ---------------------------------------------------------------- the product

    /** The most 16-bit partial sums a type has per super-block (Q6_K's, one per 8 values). */
    static final int MAX_PARTIALS = 32;

    private static final class Scratch {
        final short[] sums = new short[VECTORS_AT_ONCE * CHUNK_SUPERS * MAX_PARTIALS * ROWS];
        final int[] t = new int[CHUNK_SUPERS * ROWS];
        final int[] m = new int[CHUNK_SUPERS * ROWS];
        float[] acc = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    @Override
    public final void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out) {
        if (cols != this.cols || x.format() != ActivationFormat.Q8_K || rowStart % ROWS != 0) {
            throw new IllegalArgumentException("repacked product of " + cols + " columns from row " + rowStart
                    + " with " + x.format() + " activations; expected " + this.cols + " columns, Q8_K, rows from a"
                    + " multiple of " + ROWS);
        }
        int batch = x.batch();
        byte[] xq = x.quants();
        float[] xd = x.scales();
        int[] groupSums = x.groupSums();
        Scratch s = SCRATCH.get();
        if (s.acc.length < batch * ROWS) {
            s.acc = new float[batch * ROWS];
        }
        float[] acc = s.acc;
        int sumsStride = CHUNK_SUPERS * partials * ROWS;
        for (int r0 = rowStart; r0 < rowEnd; r0 += ROWS) {
            long group = r0 / ROWS;
            java.util.Arrays.fill(acc, 0, batch * ROWS, 0f);
            for (int c = 0; c < supers; c += CHUNK_SUPERS) {
                int n = Math.min(CHUNK_SUPERS, supers - c);
                long at = groupSuper(group, c);
                for (int v = 0; v < batch; v += VECTORS_AT_ONCE) {
                    int count = Math.min(VECTORS_AT_ONCE, batch - v);
                    partialSums(data, at, n, xq, v * cols + c * SUPER, cols, count, s.sums);
                    for (int j = 0; j < count; j++) {
                        int vector = v + j;
                        superSums(data, at, n, s.sums, j * sumsStride, groupSums,
                                (vector * cols + c * SUPER) / BlockDecoder.SCALE_GROUP, s.t, s.m);
                        floatSteps(data, at, n, s.t, s.m, xd, vector * supers + c, acc, vector * ROWS);
                    }
                }
            }
            int valid = Math.min(ROWS, rowEnd - r0);
            for (int v = 0; v < batch; v++) {
                System.arraycopy(acc, v * ROWS, out, v * rows + r0, valid);
            }
        }
    }

    /**
     * {@code acc = fma((float) T, d * dx, acc)} then, with minimums, {@code acc = fma((float) -M, dmin * dx, acc)},
     * for super-blocks {@code [0, n)} of the chunk at {@code at}, one vector (its accumulators at {@code acc[accAt]},
     * 32 row lanes): the only float steps, in super-block order.
     */
    private void floatSteps(MemorySegment data, long at, int n, int[] t, int[] m, float[] xd, int xdAt, float[] acc,
            int accAt) {
        FloatVector a0 = FloatVector.fromArray(F512, acc, accAt);
        FloatVector a1 = FloatVector.fromArray(F512, acc, accAt + 16);
        for (int k = 0; k < n; k++) {
            long sb = at + (long) k * groupSuperBytes;
            float dx = xd[xdAt + k];
            FloatVector t0 = (FloatVector) IntVector.fromArray(I512, t, 32 * k).convert(VectorOperators.I2F, 0);
            FloatVector t1 = (FloatVector) IntVector.fromArray(I512, t, 32 * k + 16).convert(VectorOperators.I2F, 0);
            a0 = t0.fma(FloatVector.fromMemorySegment(F512, data, sb + dAt, LE).mul(dx), a0);
            a1 = t1.fma(FloatVector.fromMemorySegment(F512, data, sb + dAt + 64, LE).mul(dx), a1);
            if (dminAt >= 0) {
                FloatVector m0 = (FloatVector) IntVector.fromArray(I512, m, 32 * k).neg()
                        .convert(VectorOperators.I2F, 0);
                FloatVector m1 = (FloatVector) IntVector.fromArray(I512, m, 32 * k + 16).neg()
                        .convert(VectorOperators.I2F, 0);
                a0 = m0.fma(FloatVector.fromMemorySegment(F512, data, sb + dminAt, LE).mul(dx), a0);
                a1 = m1.fma(FloatVector.fromMemorySegment(F512, data, sb + dminAt + 64, LE).mul(dx), a1);
            }
        }
        a0.intoArray(acc, accAt);
        a1.intoArray(acc, accAt + 16);
    }

    // ---------------------------------------------------------------- the plain (scalar) operations

    /** The (group, super-block) of element {@code e}. */
    private long locate(long e) {
        long row = e / cols;
        return groupSuper(row / ROWS, (int) (e % cols / SUPER));
    }

    private int laneOf(long e) {
        return (int) (e / cols % ROWS);
    }

    private int scale(MemorySegment data, long at, int lane, int slot) {
        return data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, at + scalesAt + 32L * slot + lane);
    }

    private int min(MemorySegment data, long at, int lane, int slot) {
        return data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, at + minsAt + 32L * slot + lane);
    }

    private float d(MemorySegment data, long at, int lane) {
        return data.get(FLOAT_LE, at + dAt + 4L * lane);
    }

    private float dmin(MemorySegment data, long at, int lane) {
        return data.get(FLOAT_LE, at + dminAt + 4L * lane);
    }

    /** As the direct kernels dequantize: {@code (d * scale) * q}, minus {@code dmin * min} with minimums. */
    @Override
    public final void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        KernelVectors.checkBlocks(first, count, SUPER);
        int slotValues = SUPER / slots;
        for (long e = first; e < first + count; e += SUPER) {
            long at = locate(e);
            int lane = laneOf(e);
            float d = d(data, at, lane);
            int o = outOffset + (int) (e - first);
            for (int s = 0; s < slots; s++) {
                float d1 = d * scale(data, at, lane, s);
                float m1 = minsAt >= 0 ? dmin(data, at, lane) * min(data, at, lane, s) : 0f;
                for (int i = s * slotValues; i < (s + 1) * slotValues; i++) {
                    out[o + i] = minsAt >= 0 ? d1 * quant(data, at, lane, i) - m1 : d1 * quant(data, at, lane, i);
                }
            }
        }
    }

    /** Per sub-block the float sum of q_i x_i in order, scaled, added in order (the plain reference). */
    @Override
    public final float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        float[] w = new float[SUPER];
        float sum = 0f;
        for (long e = first; e < first + count; e += SUPER) {
            dequantize(data, e, SUPER, w, 0);
            int o = xOffset + (int) (e - first);
            for (int i = 0; i < SUPER; i++) {
                sum += w[i] * x[o + i];
            }
        }
        return sum;
    }

    /** One (row, vector) in the kernel's order, one value at a time: the same float as {@link #productRows}. */
    @Override
    public final float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        if (x.format() != ActivationFormat.Q8_K) {
            throw new IllegalArgumentException("activations prepared as " + x.format() + ", expected Q8_K");
        }
        KernelVectors.checkBlocks(first, count, SUPER);
        byte[] xq = x.quants();
        float[] xd = x.scales();
        int[] groupSums = x.groupSums();
        int slotValues = SUPER / slots;
        float acc = 0f;
        for (long e = first; e < first + count; e += SUPER) {
            long at = locate(e);
            int lane = laneOf(e);
            int o = xOffset + (int) (e - first);
            int t = 0;
            int m = 0;
            for (int s = 0; s < slots; s++) {
                int isum = 0;
                int xsum = 0;
                for (int i = s * slotValues; i < (s + 1) * slotValues; i++) {
                    isum += quant(data, at, lane, i) * xq[o + i];
                }
                for (int g = s * slotValues; g < (s + 1) * slotValues; g += BlockDecoder.SCALE_GROUP) {
                    xsum += groupSums[(o + g) / BlockDecoder.SCALE_GROUP];
                }
                t += scale(data, at, lane, s) * isum;
                if (minsAt >= 0) {
                    m += min(data, at, lane, s) * xsum;
                }
            }
            float dx = xd[o / SUPER];
            acc = Math.fma((float) t, d(data, at, lane) * dx, acc);
            if (dminAt >= 0) {
                acc = Math.fma((float) -m, dmin(data, at, lane) * dx, acc);
            }
        }
        return acc;
    }
}
