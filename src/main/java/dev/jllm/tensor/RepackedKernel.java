package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Set;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernel of a Q4_0 or Q8_0 matrix repacked at load ({@link Repacking}) so that output rows are vector lanes.
 *
 * <p>Layout: rows in groups of {@link #ROWS}; a group is stored block after block (32 columns each), and one
 * (group, block) holds the 32 rows' quants side by side (the type's own arrangement, see its subclass) followed by
 * their 32 fp16 scales, {@link #scalesAt} bytes in, in the order of {@link #scaleAt}. The last group is padded
 * with zero rows. Groups are
 * {@code blocks * groupBlockBytes} bytes apart, a multiple of 64, and the copy starts 64-byte aligned.
 *
 * <p>Arithmetic, for every (row, vector) whatever the batch: per block the exact integer sum of the 32 products of
 * weight quants and activation quants (computed in 16-bit or 32-bit lanes, exact either way), then
 * {@code acc = fma((float) isum, d_w * d_x, acc)} from the first block to the last, one lane per row. That is
 * {@link BlockKernel.SumOrder#BLOCK_SUMS} (ggml's order for repacked Q4_0), so {@code BlockKernel} in that order over
 * the original bytes is the reference these must equal bit for bit, and a token's result never depends on its batch:
 * each vector of a batch goes through the same integer sums and the same float steps.
 *
 * <p>Work is split as C2 compiles it well: small methods, each with few vector call sites (a method that grows past
 * C2's inlining budget leaves vector operations out of line, and those allocate). Per group of rows and per chunk of
 * {@link #CHUNK_BLOCKS} blocks: the block sums of up to four vectors at a time, sharing each weight load and
 * unpacking ({@link #blockSums}), then per vector the float steps ({@link #floatSteps}), with accumulators kept
 * between chunks in a per-thread array.
 */
abstract sealed class RepackedKernel implements Kernel permits RepackedQ4_0, RepackedQ8_0 {

    /** Rows per group: the lanes of a 512-bit vector of shorts. */
    static final int ROWS = 32;
    /** Blocks per pass over a group: the chunk's weights stay in L1/L2 while the batch's vectors go over them. */
    static final int CHUNK_BLOCKS = 32;
    /** Vectors whose block sums are computed together (sharing each weight load). */
    static final int VECTORS_AT_ONCE = 4;

    static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
    static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    static final VectorSpecies<Float> F512 = FloatVector.SPECIES_512;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** True where these kernels compile to 512-bit vectors (AVX-512); elsewhere matrices are not repacked. */
    static final boolean AVAILABLE = KernelVectors.FLOAT_LANES == 16;

    final GgmlType source;
    /** Values per row. */
    final int cols;
    final int blocks;
    /** Bytes of one (group, block). */
    final int groupBlockBytes;
    /** Where the 32 fp16 scales start within a (group, block). */
    final int scalesAt;

    RepackedKernel(GgmlType source, int cols, int groupBlockBytes, int scalesAt) {
        if (cols % 32 != 0 || cols <= 0) {
            throw new IllegalArgumentException("row length " + cols + " is not a positive multiple of 32");
        }
        this.source = source;
        this.cols = cols;
        this.blocks = cols / 32;
        this.groupBlockBytes = groupBlockBytes;
        this.scalesAt = scalesAt;
    }

    /** Bytes of the repacked copy of {@code rows} rows. */
    final long bytesFor(long rows) {
        long groups = (rows + ROWS - 1) / ROWS;
        return Math.multiplyExact(Math.multiplyExact(groups, (long) blocks), (long) groupBlockBytes);
    }

    /** Where (group, block) starts. */
    final long groupBlock(long group, int block) {
        return (group * blocks + block) * groupBlockBytes;
    }

    /** Copies {@code rows} rows of the original tensor {@code from} into the repacked layout {@code to}. */
    abstract void repackGroups(MemorySegment from, long rows, MemorySegment to, int firstGroup, int endGroup);

    /** The quant of value {@code i} (0..31) of row lane {@code lane} in the (group, block) at {@code at}. */
    abstract int quant(MemorySegment data, long at, int lane, int i);

    /**
     * The exact block sums of blocks {@code [0, n)} of the chunk at {@code at}, against {@code count} (1 to
     * {@link #VECTORS_AT_ONCE}) activation vectors whose quants for the chunk start at {@code xq[x0]},
     * {@code xq[x0 + xStride]}, ...: the sums of vector j, block k, row lane r go to
     * {@code sums[(j * CHUNK_BLOCKS + k) * 32 + r]}, or to {@code shortSums} at the same places where
     * {@link #shortSums()}.
     */
    abstract void blockSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count,
            int[] sums, short[] shortSums);

    /** Whether {@link #blockSums} computes 16-bit sums (into its short array). */
    abstract boolean shortSums();

    @Override
    public final ActivationFormat activationFormat() {
        return ActivationFormat.Q8_0;
    }

    @Override
    public final Set<ActivationLayout> dotLayouts() {
        return Set.of();
    }

    @Override
    public final int rowTile(int batch) {
        return batch == 1 && pairsGroups() ? 2 * ROWS : ROWS; // whole pairs of groups where pairSums takes them
    }

    private static final class Scratch {
        final int[] sums = new int[VECTORS_AT_ONCE * CHUNK_BLOCKS * ROWS];
        final short[] shortSums = new short[VECTORS_AT_ONCE * CHUNK_BLOCKS * ROWS];
        final float[] dw = new float[CHUNK_BLOCKS * ROWS];
        float[] acc = new float[2 * ROWS];
        short[] xsums = new short[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    @Override
    public final void productRows(MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out) {
        if (cols != this.cols || x.format() != ActivationFormat.Q8_0 || rowStart % ROWS != 0) {
            throw new IllegalArgumentException("repacked product of " + cols + " columns from row " + rowStart
                    + " with " + x.format() + " activations; expected " + this.cols + " columns, Q8_0, rows from a"
                    + " multiple of " + ROWS);
        }
        int batch = x.batch();
        if (batch >= RepackedPrefill.MIN_BATCH) {
            RepackedPrefill.productRows(this, data, rowStart, rowEnd, rows, x, out);
            return;
        }
        byte[] xq = x.quants();
        float[] xd = x.scales();
        Scratch s = SCRATCH.get();
        if (s.acc.length < Math.max(2, batch) * ROWS) {
            s.acc = new float[Math.max(2, batch) * ROWS];
        }
        float[] acc = s.acc;
        // One vector: two groups at a time where the type can (pairSums), sharing each activation broadcast.
        boolean pairs = batch == 1 && pairsGroups();
        if (pairs) {
            if (s.xsums.length < blocks) {
                s.xsums = new short[blocks];
            }
            for (int b = 0; b < blocks; b++) {
                int sum = 0;
                for (int i = 32 * b; i < 32 * b + 32; i++) {
                    sum += xq[i];
                }
                s.xsums[b] = (short) sum;
            }
        }
        for (int r0 = rowStart; r0 < rowEnd; ) {
            long group = r0 / ROWS;
            boolean two = pairs && r0 + ROWS < rowEnd;
            java.util.Arrays.fill(acc, 0, (two ? 2 : batch) * ROWS, 0f);
            for (int c = 0; c < blocks; c += CHUNK_BLOCKS) {
                int n = Math.min(CHUNK_BLOCKS, blocks - c);
                long at = groupBlock(group, c);
                if (two) {
                    long next = groupBlock(group + 1, c);
                    pairSums(data, at, next, n, xq, c * 32, s.xsums, c, s.sums, s.shortSums);
                    int[] intSums = shortSums() ? null : s.sums;
                    floatSteps(data, at, n, intSums, s.shortSums, 0, 1, false, null, xd, c, acc, 0);
                    floatSteps(data, next, n, intSums, s.shortSums, CHUNK_BLOCKS * ROWS, 1, false, null, xd, c, acc,
                            ROWS);
                    continue;
                }
                for (int v = 0; v < batch; v += VECTORS_AT_ONCE) {
                    int count = Math.min(VECTORS_AT_ONCE, batch - v);
                    blockSums(data, at, n, xq, v * cols + c * 32, cols, count, s.sums, s.shortSums);
                    floatSteps(data, at, n, shortSums() ? null : s.sums, s.shortSums, 0, count,
                            v == 0 && batch > 1, batch > 1 ? s.dw : null, xd, v * blocks + c, acc, v * ROWS);
                }
            }
            if (two) {
                System.arraycopy(acc, 0, out, r0, ROWS);
                System.arraycopy(acc, ROWS, out, r0 + ROWS, Math.min(ROWS, rowEnd - r0 - ROWS));
                r0 += 2 * ROWS;
                continue;
            }
            int valid = Math.min(ROWS, rowEnd - r0);
            for (int v = 0; v < batch; v++) {
                System.arraycopy(acc, v * ROWS, out, v * rows + r0, valid);
            }
            r0 += ROWS;
        }
    }

    /** Whether {@link #pairSums} is implemented: one vector's block sums for two groups at once. */
    boolean pairsGroups() {
        return false;
    }

    /**
     * The exact block sums of one vector against two groups, the chunks at {@code at} and {@code next}, blocks
     * {@code [0, n)}: to {@code sums[32 k + r]} and {@code sums[(CHUNK_BLOCKS + k) * 32 + r]} (or the same places of
     * {@code shortSums} where {@link #shortSums()}), the same integers as {@link #blockSums}. {@code xsums[xsumsAt + k]}
     * is the sum of the vector's 32 quants of block k (mod 2^16).
     */
    void pairSums(MemorySegment data, long at, long next, int n, byte[] xq, int x0, short[] xsums, int xsumsAt,
            int[] sums, short[] shortSums) {
        throw new UnsupportedOperationException();
    }

    /**
     * {@code acc = fma((float) isum, d_w * d_x, acc)} for blocks {@code [0, n)} of the chunk at {@code at} and
     * {@code count} vectors (their block sums from {@code intSums}, or when that is null from {@code shortSums}; their
     * accumulators from {@code acc[accAt]}, 32 row lanes each, the next vector's 32 further): the only float steps,
     * in block order. The 32 fp16 scales of a block are read as 16 ints, rows 0..15 in the low halves and 16..31 in
     * the high ones (see {@link #scaleAt}). With one vector they are widened as they are used (a pass of their own
     * costs more); with more, once per chunk into {@code dw} (when {@code convert}, else dw holds them already).
     *
     * <p>One method with every variant on purpose: larger than C2 inlines into a caller (FreqInlineSize), it is
     * compiled on its own, so that its vector operations always fit C2's node budget and are never left out of line
     * (boxed) by a large caller.
     */
    private void floatSteps(MemorySegment data, long at, int n, int[] intSums, short[] shortSums, int sumsAt,
            int count, boolean convert, float[] dw, float[] xd, int xdAt, float[] acc, int accAt) {
        if (dw == null) {
            FloatVector a0 = FloatVector.fromArray(F512, acc, accAt);
            FloatVector a1 = FloatVector.fromArray(F512, acc, accAt + 16);
            for (int k = 0; k < n; k++) {
                float dx = xd[xdAt + k];
                IntVector d = IntVector.fromMemorySegment(I512, data, at + (long) k * groupBlockBytes + scalesAt, LE);
                FloatVector s0;
                FloatVector s1;
                if (intSums != null) {
                    s0 = (FloatVector) IntVector.fromArray(I512, intSums, sumsAt + 32 * k)
                            .convert(VectorOperators.I2F, 0);
                    s1 = (FloatVector) IntVector.fromArray(I512, intSums, sumsAt + 32 * k + 16)
                            .convert(VectorOperators.I2F, 0);
                } else {
                    ShortVector s = ShortVector.fromArray(S512, shortSums, sumsAt + 32 * k);
                    s0 = (FloatVector) s.convertShape(VectorOperators.S2F, F512, 0);
                    s1 = (FloatVector) s.convertShape(VectorOperators.S2F, F512, 1);
                }
                a0 = s0.fma(KernelVectors.halfToFloat(d.and(0xFFFF)).mul(dx), a0);
                a1 = s1.fma(KernelVectors.halfToFloat(d.lanewise(VectorOperators.LSHR, 16)).mul(dx), a1);
            }
            a0.intoArray(acc, accAt);
            a1.intoArray(acc, accAt + 16);
            return;
        }
        if (convert) {
            for (int k = 0; k < n; k++) {
                IntVector d = IntVector.fromMemorySegment(I512, data, at + (long) k * groupBlockBytes + scalesAt, LE);
                KernelVectors.halfToFloat(d.and(0xFFFF)).intoArray(dw, 32 * k);
                KernelVectors.halfToFloat(d.lanewise(VectorOperators.LSHR, 16)).intoArray(dw, 32 * k + 16);
            }
        }
        for (int j = 0; j < count; j++) {
            int sumsj = sumsAt + j * CHUNK_BLOCKS * ROWS;
            int xdj = xdAt + j * blocks;
            int accj = accAt + j * ROWS;
            FloatVector a0 = FloatVector.fromArray(F512, acc, accj);
            FloatVector a1 = FloatVector.fromArray(F512, acc, accj + 16);
            for (int k = 0; k < n; k++) {
                float dx = xd[xdj + k];
                FloatVector s0;
                FloatVector s1;
                if (intSums != null) {
                    s0 = (FloatVector) IntVector.fromArray(I512, intSums, sumsj + 32 * k)
                            .convert(VectorOperators.I2F, 0);
                    s1 = (FloatVector) IntVector.fromArray(I512, intSums, sumsj + 32 * k + 16)
                            .convert(VectorOperators.I2F, 0);
                } else {
                    ShortVector s = ShortVector.fromArray(S512, shortSums, sumsj + 32 * k);
                    s0 = (FloatVector) s.convertShape(VectorOperators.S2F, F512, 0);
                    s1 = (FloatVector) s.convertShape(VectorOperators.S2F, F512, 1);
                }
                a0 = s0.fma(FloatVector.fromArray(F512, dw, 32 * k).mul(dx), a0);
                a1 = s1.fma(FloatVector.fromArray(F512, dw, 32 * k + 16).mul(dx), a1);
            }
            a0.intoArray(acc, accj);
            a1.intoArray(acc, accj + 16);
        }
    }

    /** Byte offset, from the scales of a (group, block), of row lane r's fp16 scale: rows r and r + 16 share an int. */
    static int scaleAt(int lane) {
        return lane < 16 ? 4 * lane : 4 * (lane - 16) + 2;
    }

    // ---------------------------------------------------------------- the plain (scalar) operations

    /** The (group, block) of element {@code e}. */
    private long locate(long e) {
        long row = e / cols;
        return groupBlock(row / ROWS, (int) (e % cols / 32));
    }

    /** The row lane of element {@code e}. */
    private int laneOf(long e) {
        return (int) (e / cols % ROWS);
    }

    /** The scale of the block of element {@code e}. */
    private float scaleOf(MemorySegment data, long e) {
        return KernelVectors.f16(data, locate(e) + scalesAt + scaleAt(laneOf(e)));
    }

    @Override
    public final void dequantize(MemorySegment data, long first, int count, float[] out, int outOffset) {
        KernelVectors.checkBlocks(first, count, 32);
        for (long e = first; e < first + count; e += 32) {
            long at = locate(e);
            int lane = laneOf(e);
            float d = scaleOf(data, e);
            int o = outOffset + (int) (e - first);
            for (int i = 0; i < 32; i++) {
                out[o + i] = d * quant(data, at, lane, i);
            }
        }
    }

    /** Per block the float sum of q_i x_i in order, times d, added in block order (the plain reference). */
    @Override
    public final float dot(MemorySegment data, long first, int count, float[] x, int xOffset) {
        KernelVectors.checkBlocks(first, count, 32);
        float sum = 0f;
        for (long e = first; e < first + count; e += 32) {
            long at = locate(e);
            int lane = laneOf(e);
            float d = scaleOf(data, e);
            int o = xOffset + (int) (e - first);
            float part = 0f;
            for (int i = 0; i < 32; i++) {
                part += quant(data, at, lane, i) * x[o + i];
            }
            sum += d * part;
        }
        return sum;
    }

    /** One (row, vector) in the kernel's order, one value at a time: the same float as {@link #productRows}. */
    @Override
    public final float dotPrepared(MemorySegment data, long first, int count, PreparedActivations x, int xOffset) {
        if (x.format() != ActivationFormat.Q8_0) {
            throw new IllegalArgumentException("activations prepared as " + x.format() + ", expected Q8_0");
        }
        KernelVectors.checkBlocks(first, count, 32);
        byte[] xq = x.quants();
        float[] xd = x.scales();
        float acc = 0f;
        for (long e = first; e < first + count; e += 32) {
            long at = locate(e);
            int lane = laneOf(e);
            float d = scaleOf(data, e);
            int o = xOffset + (int) (e - first);
            int isum = 0;
            for (int i = 0; i < 32; i++) {
                isum += quant(data, at, lane, i) * xq[o + i];
            }
            acc = Math.fma((float) isum, d * xd[o / 32], acc);
        }
        return acc;
    }
}
