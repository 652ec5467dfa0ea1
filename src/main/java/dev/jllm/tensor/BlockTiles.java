package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Tiled matrix products for the block types over Q8_0 activations, several rows and vectors at a time, that give
 * the very floats of the per-(row, vector) dot products they replace.
 *
 * <p>Why they are bit-identical: the products of int8 (or 4-bit) weights with int8 activations, and their sums over
 * a block of 32, are integers below 2^24, so float arithmetic computes them exactly in any order. Only the float
 * steps that round, {@code acc = fma(blockSum, d_w * d_x, acc)} over the blocks in order and the final reduction, are
 * kept as the reference kernels do them, one lane per (row, vector) pair.
 *
 * <p>Shapes: for one vector (decoding), Q8_0 one row at a time, each block's sum an integer lane reduction, and Q4_0
 * 16 rows at a time, the rows' 16-bit block sums merged so that the FMA chain runs with lanes = rows (one row at a
 * time where that cannot apply); for a batch, 4 rows against 32 vectors of {@link PreparedActivations#tokenGroups()}
 * (lanes = vectors), each weight broadcast. All need 16-lane float vectors (AVX-512); {@link #AVAILABLE} is false
 * otherwise, and the kernels fall back to their dot products.
 */
final class BlockTiles {

    private BlockTiles() {
    }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    static final int L = 16;
    static final int GROUP = PreparedActivations.GROUP;

    /** False with {@code -Djllm.notiles=true}: every product then goes through the dot products (for comparisons). */
    static final boolean ENABLED = !Boolean.getBoolean("jllm.notiles");

    /** True when the CPU's preferred float vectors have 16 lanes, so that these 512-bit products are compiled. */
    static final boolean AVAILABLE = KernelVectors.FLOAT_LANES == L && GROUP == L && ENABLED;

    /** Rows per task for decoding (the rows themselves are taken one at a time). */
    static final int DECODE_ROWS = L;
    /** Rows per chunk of a batch product: the chunk's tiles share each group pair of activations while it is in L2. */
    static final int CHUNK_ROWS = 32;

    /** Rows per tile for a batch. */
    static final int BATCH_ROWS = 4;

    /** Q4_0 in ggml's repacked order: 16-row decoding, 4 x 32 batch tiles. */
    static final RowTiles Q4_0 = new RowTiles() {
        @Override
        public int rowTile(int batch) {
            return AVAILABLE ? (batch == 1 ? DECODE_ROWS : BATCH_ROWS) : 0;
        }

        @Override
        public java.util.Set<ActivationLayout> layouts(BlockKernel kernel, int rows, int batch) {
            if (batch == 1) {
                return java.util.EnumSet.of(ActivationLayout.NIBBLE_PAIRS, ActivationLayout.BLOCK_SUMS);
            }
            return withLeftovers(kernel, rows % BATCH_ROWS != 0);
        }

        @Override
        public void productRows(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
                PreparedActivations x, float[] out) {
            q4_0Interleaved(kernel, data, cols, rowStart, rowEnd, rows, x, out, scratch());
        }
    };

    /** Q8_0 in ggml_vec_dot_q8_0_q8_0's order: rows one at a time for decoding, 4 x 32 batch tiles. */
    static final RowTiles Q8_0 = new RowTiles() {
        @Override
        public int rowTile(int batch) {
            return AVAILABLE ? 16 : 0;
        }

        @Override
        public java.util.Set<ActivationLayout> layouts(BlockKernel kernel, int rows, int batch) {
            return batch == 1 ? java.util.EnumSet.noneOf(ActivationLayout.class)
                    : withLeftovers(kernel, rows % Q8_BATCH_ROWS != 0);
        }

        @Override
        public void productRows(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
                PreparedActivations x, float[] out) {
            q8_0(kernel, data, cols, rowStart, rowEnd, rows, x, out, scratch());
        }
    };

    /** Token groups, plus what the kernel's dot product reads when rows are left over after the last tile. */
    static java.util.Set<ActivationLayout> withLeftovers(BlockKernel kernel, boolean leftovers) {
        java.util.Set<ActivationLayout> layouts = java.util.EnumSet.of(ActivationLayout.TOKEN_GROUPS);
        if (leftovers) {
            layouts.addAll(kernel.dotLayouts());
        }
        return layouts;
    }

    // ---------------------------------------------------------------- Q4_0, repacked (interleaved) order

    private static final int Q4_BLOCK_BYTES = Q4_0Blocks.BLOCK_BYTES;

    /**
     * Q4_0 rows in the order of {@link BlockKernel.SumOrder#BLOCK_SUMS}: per (row, vector) acc = fma(blockSum,
     * d_w * d_x, acc) from the first block to the last.
     */
    static void q4_0Interleaved(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out, float[] scratch) {
        if (x.batch() == 1) {
            int r = rowStart;
            if (x.nibblePairsUsable() && NIBBLES16) {
                r = q4_0Decode16(data, cols, rowStart, rowEnd, x, out);
            }
            q4_0InterleavedDecode(data, cols, r, rowEnd, x, out);
        } else {
            q4_0InterleavedBatch(kernel, data, cols, rowStart, rowEnd, rows, x, out, scratch);
        }
    }

    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;

    // ---------------------------------------------------------------- Q4_0 decode, 16 rows in 16-bit lanes

    /** False with {@code -Djllm.nibbles16=false}: the row-at-a-time decode only (for comparisons). */
    static final boolean NIBBLES16 = !"false".equals(System.getProperty("jllm.nibbles16"));

    private static final VectorSpecies<Byte> B64 = ByteVector.SPECIES_512;
    private static final VectorSpecies<Short> S512 = ShortVector.SPECIES_512;
    /**
     * Short lane i of a pair of blocks (2p, 2p + 1) takes byte i / 2 of the nibbles of block 2p + (i & 1), in both its
     * bytes: then its low nibble is (lane & 15) and its high nibble (lane >> 12) & 15.
     */
    private static final VectorShuffle<Byte> NIBBLE_BYTES =
            VectorShuffle.fromOp(B64, i -> 2 + (i / 2 % 2) * Q4_BLOCK_BYTES + i / 4);
    private static final VectorMask<Short> BIT2 = VectorMask.fromLong(S512, 0xCCCCCCCCL);
    private static final VectorMask<Short> BIT4 = VectorMask.fromLong(S512, 0xF0F0F0F0L);
    private static final VectorMask<Short> BIT8 = VectorMask.fromLong(S512, 0xFF00FF00L);
    private static final VectorMask<Short> BIT16 = VectorMask.fromLong(S512, 0xFFFF0000L);
    private static final VectorSpecies<Long> L512 = LongVector.SPECIES_512;
    private static final VectorShuffle<Long> SWAP_LONGS = VectorShuffle.fromOp(L512, i -> i ^ 1);
    private static final VectorShuffle<Long> SWAP_LONG_PAIRS = VectorShuffle.fromOp(L512, i -> i ^ 2);
    private static final VectorShuffle<Long> SWAP_LONG_QUADS = VectorShuffle.fromOp(L512, i -> i ^ 4);

    /** Per thread: 8 buffers of merged sums, 32 shorts a pair of blocks. */
    private static final ThreadLocal<short[][]> DECODE_BUFFERS = ThreadLocal.withInitial(() -> new short[8][0]);
    /** Per thread: the scales of a tile's rows, 32 a pair of blocks. */
    private static final ThreadLocal<float[][]> DECODE_SCALES = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * Q4_0 decoding 16 rows at a time, for activations with {@link PreparedActivations#nibblePairsUsable}. For each
     * pair of blocks (2p, 2p + 1) and row, 32 lanes lo_k * x_k + hi_k * x_(k+16) in 16-bit lanes (lane i: block
     * 2p + (i & 1), k = i / 2); the 16 rows' vectors are then added into one in four levels, each merging two vectors
     * while adding lanes at distance 2, 4, 8, 16, so that lanes 2r and 2r + 1 end up with row r's sums over the two
     * blocks: all modulo 2^16, exact because the true sum minus 8 sum(x) lies within a short. Then, with lanes = rows,
     * acc = fma(sum, d_w * d_x, acc) for the two blocks in order, as the reference does. Returns the first row not
     * done (a last part of fewer than 16 rows is left to the caller).
     *
     * <p>Each level runs as its own loop over the whole row, through buffers that stay in cache: C2 stops inlining a
     * method once its graph is large (NodeCountInliningCutoff), every vector operation counts for hundreds of nodes,
     * and an operation left out of line allocates its vectors.
     */
    private static int q4_0Decode16(MemorySegment data, int cols, int rowStart, int rowEnd, PreparedActivations x,
            float[] out) {
        short[] xs = x.nibblePairs();
        float[] xd = x.scales();
        int blocks = cols / 32;
        int pairs = blocks / 2;
        long rowBytes = (long) blocks * Q4_BLOCK_BYTES;
        short[][] b = DECODE_BUFFERS.get();
        float[][] scaleBuffer = DECODE_SCALES.get();
        if (b[0].length < pairs * 32) {
            for (int i = 0; i < b.length; i++) {
                b[i] = new short[pairs * 32];
            }
            scaleBuffer[0] = new float[pairs * 32];
        }
        float[] dw = scaleBuffer[0];
        int r0 = rowStart;
        for (; r0 + L <= rowEnd; r0 += L) {
            long base = r0 * rowBytes;
            for (int k = 0; k < 8; k++) {
                rowPairs(data, base + 2 * k * rowBytes, rowBytes, pairs, xs, b[k], dw, 2 * k);
            }
            for (int k = 0; k < 4; k++) {
                merge4(b[2 * k], b[2 * k + 1], pairs, b[k]);
            }
            for (int k = 0; k < 2; k++) {
                merge8(b[2 * k], b[2 * k + 1], pairs, b[k]);
            }
            finish(b[0], b[1], dw, xs, xd, pairs, out, r0);
        }
        return r0;
    }

    /** The last level of the merge and the scaled sums of the 16 rows of a tile, into {@code out[r0 ..]}. */
    private static void finish(short[] low, short[] high, float[] dw, short[] xs, float[] xd, int pairs,
            float[] out, int r0) {
        FloatVector acc = FloatVector.zero(F);
        for (int p = 0; p < pairs; p++) {
            IntVector sums = merge16(ShortVector.fromArray(S512, low, 32 * p),
                    ShortVector.fromArray(S512, high, 32 * p))
                    .sub(ShortVector.fromArray(S512, xs, p * PreparedActivations.NIBBLE_PAIR_SHORTS + 64))
                    .reinterpretAsInts();
            FloatVector s0 = (FloatVector) sums.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .convert(VectorOperators.I2F, 0);
            FloatVector s1 = (FloatVector) sums.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0);
            FloatVector d0 = FloatVector.fromArray(F, dw, 32 * p);
            FloatVector d1 = FloatVector.fromArray(F, dw, 32 * p + L);
            acc = s0.fma(d0.mul(xd[2 * p]), acc);
            acc = s1.fma(d1.mul(xd[2 * p + 1]), acc);
        }
        acc.intoArray(out, r0);
    }

    private static void merge4(short[] a, short[] b, int pairs, short[] into) {
        for (int p = 0; p < 32 * pairs; p += 32) {
            merge4(ShortVector.fromArray(S512, a, p), ShortVector.fromArray(S512, b, p)).intoArray(into, p);
        }
    }

    private static void merge8(short[] a, short[] b, int pairs, short[] into) {
        for (int p = 0; p < 32 * pairs; p += 32) {
            merge8(ShortVector.fromArray(S512, a, p), ShortVector.fromArray(S512, b, p)).intoArray(into, p);
        }
    }

    /**
     * For each pair of blocks, 2 rows' sums merged at distance 2, into {@code sums[32p ..]}: lane i holds row
     * ((i >> 1) & 1)'s sum of lanes i & ~2 and i | 2 of {@link #nibbleProducts}. The vector loads read 64 bytes; the
     * pairs where that would pass the end of the data are summed one value at a time.
     */
    private static void rowPairs(MemorySegment data, long base, long rowBytes, int pairs, short[] xs, short[] sums,
            float[] dw, int row) {
        long room = data.byteSize() - 64 - (base + rowBytes);
        int vectorPairs = room < 0 ? 0 : (int) Math.min(pairs, room / (2 * Q4_BLOCK_BYTES) + 1);
        for (int p = 0; p < vectorPairs; p++) {
            long at = base + p * (2L * Q4_BLOCK_BYTES);
            int xAt = p * PreparedActivations.NIBBLE_PAIR_SHORTS;
            ShortVector xl = ShortVector.fromArray(S512, xs, xAt);
            ShortVector xh = ShortVector.fromArray(S512, xs, xAt + 32);
            merge2(nibbleProducts(data, at, xl, xh), nibbleProducts(data, at + rowBytes, xl, xh))
                    .intoArray(sums, 32 * p);
            dw[32 * p + row] = KernelVectors.f16(data, at);
            dw[32 * p + L + row] = KernelVectors.f16(data, at + Q4_BLOCK_BYTES);
            dw[32 * p + row + 1] = KernelVectors.f16(data, at + rowBytes);
            dw[32 * p + L + row + 1] = KernelVectors.f16(data, at + rowBytes + Q4_BLOCK_BYTES);
        }
        for (int p = vectorPairs; p < pairs; p++) {
            int xAt = p * PreparedActivations.NIBBLE_PAIR_SHORTS;
            for (int i = 0; i < 32; i++) {
                long block = base + ((i >> 1) & 1) * rowBytes + p * (2L * Q4_BLOCK_BYTES) + (i & 1) * Q4_BLOCK_BYTES;
                int sum = 0;
                for (int lane = i & ~2; lane <= (i | 2); lane += 2) {
                    int q = data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, block + 2 + lane / 2) & 0xFF;
                    sum += (q & 15) * xs[xAt + lane] + (q >>> 4) * xs[xAt + 32 + lane];
                }
                sums[32 * p + i] = (short) sum;
            }
            long at = base + p * (2L * Q4_BLOCK_BYTES);
            dw[32 * p + row] = KernelVectors.f16(data, at);
            dw[32 * p + L + row] = KernelVectors.f16(data, at + Q4_BLOCK_BYTES);
            dw[32 * p + row + 1] = KernelVectors.f16(data, at + rowBytes);
            dw[32 * p + L + row + 1] = KernelVectors.f16(data, at + rowBytes + Q4_BLOCK_BYTES);
        }
    }

    /** The pair of blocks at {@code at}: lane i = lo * x_k + hi * x_(k+16), k = i / 2, of block 2p + (i & 1). */
    private static ShortVector nibbleProducts(MemorySegment data, long at, ShortVector xl, ShortVector xh) {
        ShortVector q = ByteVector.fromMemorySegment(B64, data, at, ByteOrder.LITTLE_ENDIAN)
                .rearrange(NIBBLE_BYTES).reinterpretAsShorts();
        return q.and((short) 0x0F).mul(xl).add(q.lanewise(VectorOperators.ASHR, 12).and((short) 0x0F).mul(xh));
    }

    /** Lanes with bit 2 clear: a[i] + a[i + 2]; set: b[i - 2] + b[i]. */
    private static ShortVector merge2(ShortVector a, ShortVector b) {
        ShortVector y = b.blend(a, BIT2);
        return a.blend(b, BIT2).add(y.reinterpretAsLongs().lanewise(VectorOperators.ROR, 32).reinterpretAsShorts());
    }

    /** As {@link #merge2} at distance 4. */
    private static ShortVector merge4(ShortVector a, ShortVector b) {
        ShortVector y = b.blend(a, BIT4);
        return a.blend(b, BIT4).add(y.reinterpretAsLongs().rearrange(SWAP_LONGS).reinterpretAsShorts());
    }

    /** As {@link #merge2} at distance 8. */
    private static ShortVector merge8(ShortVector a, ShortVector b) {
        ShortVector y = b.blend(a, BIT8);
        return a.blend(b, BIT8).add(y.reinterpretAsLongs().rearrange(SWAP_LONG_PAIRS).reinterpretAsShorts());
    }

    /** As {@link #merge2} at distance 16. */
    private static ShortVector merge16(ShortVector a, ShortVector b) {
        ShortVector y = b.blend(a, BIT16);
        return a.blend(b, BIT16).add(y.reinterpretAsLongs().rearrange(SWAP_LONG_QUADS).reinterpretAsShorts());
    }

    /**
     * One row at a time (one sequential stream of weights per thread, which the prefetchers follow). The block sum of
     * nibble * x (nibbles 0..15; the -8 comes after, exactly, as -8 sum(x)) in 16-bit lanes (|nibble x| <= 1920, two
     * per lane: element j and j + 16), folded in pairs as 32-bit and then 64-bit lanes, and the last four added.
     */
    private static void q4_0InterleavedDecode(MemorySegment data, int cols, int rowStart, int rowEnd,
            PreparedActivations x, float[] out) {
        byte[] xq = x.quants();
        float[] xsum = x.blockSums();
        float[] xd = x.scales();
        int blocks = cols / 32;
        long rowBytes = (long) blocks * Q4_BLOCK_BYTES;
        for (int r = rowStart; r < rowEnd; r++) {
            long at = r * rowBytes;
            float acc = 0f;
            for (int b = 0; b < blocks; b++, at += Q4_BLOCK_BYTES) {
                ShortVector xLow = (ShortVector) ByteVector.fromArray(B16, xq, b * 32)
                        .convertShape(VectorOperators.B2S, S16, 0);
                ShortVector xHigh = (ShortVector) ByteVector.fromArray(B16, xq, b * 32 + 16)
                        .convertShape(VectorOperators.B2S, S16, 0);
                ShortVector q = (ShortVector) ByteVector.fromMemorySegment(B16, data, at + 2, ByteOrder.LITTLE_ENDIAN)
                        .convertShape(VectorOperators.B2S, S16, 0);
                IntVector p = q.and((short) 0x0F).mul(xLow)
                        .add(q.lanewise(VectorOperators.LSHR, 4).and((short) 0x0F).mul(xHigh)).reinterpretAsInts();
                LongVector pairs = p.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .add(p.lanewise(VectorOperators.ASHR, 16)).reinterpretAsLongs();
                long total = pairs.lanewise(VectorOperators.LSHL, 32).lanewise(VectorOperators.ASHR, 32)
                        .add(pairs.lanewise(VectorOperators.ASHR, 32)).reduceLanes(VectorOperators.ADD);
                float sum = (float) total - 8f * xsum[b];
                acc = Math.fma(sum, KernelVectors.f16(data, at) * xd[b], acc);
            }
            out[r] = acc;
        }
    }

    private static void q4_0InterleavedBatch(BlockKernel kernel, MemorySegment data, int cols, int rowStart,
            int rowEnd, int rows, PreparedActivations x, float[] out, float[] scratch) {
        float[] xt = x.tokenGroups();
        float[] xts = x.tokenGroupScales();
        int groups = x.tokenGroupCount();
        int batch = x.batch();
        int blocks = cols / 32;
        long rowBytes = (long) blocks * Q4_BLOCK_BYTES;
        float[] wf = scratch; // 4 rows x 32 weights, then 16 lanes to store a result
        int fullEnd = rowStart + (rowEnd - rowStart) / BATCH_ROWS * BATCH_ROWS;
        // Rows in chunks, each chunk taking the group pairs one after the other: one pair's activations (and the
        // chunk's weights) stay in L2 while the chunk's tiles go through them.
        for (int chunk = rowStart; chunk < fullEnd; chunk += CHUNK_ROWS) {
            int chunkEnd = Math.min(fullEnd, chunk + CHUNK_ROWS);
            for (int g = 0; g < groups; g += 2) {
                for (int r0 = chunk; r0 < chunkEnd; r0 += BATCH_ROWS) {
                    long base = r0 * rowBytes;
                    FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F);
                    FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
                    FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F);
                    FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
                    for (int b = 0; b < blocks; b++) {
                        long at = base + (long) b * Q4_BLOCK_BYTES;
                        unpackQ4(data, at, wf, 0);
                        unpackQ4(data, at + rowBytes, wf, 32);
                        unpackQ4(data, at + 2 * rowBytes, wf, 64);
                        unpackQ4(data, at + 3 * rowBytes, wf, 96);
                        int x0 = (g * blocks + b) * 32 * GROUP;
                        int x1 = ((g + 1) * blocks + b) * 32 * GROUP;
                        FloatVector s00 = FloatVector.zero(F), s01 = FloatVector.zero(F);
                        FloatVector s10 = FloatVector.zero(F), s11 = FloatVector.zero(F);
                        FloatVector s20 = FloatVector.zero(F), s21 = FloatVector.zero(F);
                        FloatVector s30 = FloatVector.zero(F), s31 = FloatVector.zero(F);
                        for (int j = 0; j < 32; j++) {
                            FloatVector v0 = FloatVector.fromArray(F, xt, x0 + j * GROUP);
                            FloatVector v1 = FloatVector.fromArray(F, xt, x1 + j * GROUP);
                            FloatVector w = FloatVector.broadcast(F, wf[j]);
                            s00 = w.fma(v0, s00);
                            s01 = w.fma(v1, s01);
                            w = FloatVector.broadcast(F, wf[32 + j]);
                            s10 = w.fma(v0, s10);
                            s11 = w.fma(v1, s11);
                            w = FloatVector.broadcast(F, wf[64 + j]);
                            s20 = w.fma(v0, s20);
                            s21 = w.fma(v1, s21);
                            w = FloatVector.broadcast(F, wf[96 + j]);
                            s30 = w.fma(v0, s30);
                            s31 = w.fma(v1, s31);
                        }
                        FloatVector d0 = FloatVector.fromArray(F, xts, (g * blocks + b) * GROUP);
                        FloatVector d1 = FloatVector.fromArray(F, xts, ((g + 1) * blocks + b) * GROUP);
                        float w0 = KernelVectors.f16(data, at);
                        float w1 = KernelVectors.f16(data, at + rowBytes);
                        float w2 = KernelVectors.f16(data, at + 2 * rowBytes);
                        float w3 = KernelVectors.f16(data, at + 3 * rowBytes);
                        a00 = s00.fma(d0.mul(w0), a00);
                        a01 = s01.fma(d1.mul(w0), a01);
                        a10 = s10.fma(d0.mul(w1), a10);
                        a11 = s11.fma(d1.mul(w1), a11);
                        a20 = s20.fma(d0.mul(w2), a20);
                        a21 = s21.fma(d1.mul(w2), a21);
                        a30 = s30.fma(d0.mul(w3), a30);
                        a31 = s31.fma(d1.mul(w3), a31);
                    }
                    store(a00, out, scratch, r0, g, batch, rows);
                    store(a01, out, scratch, r0, g + 1, batch, rows);
                    store(a10, out, scratch, r0 + 1, g, batch, rows);
                    store(a11, out, scratch, r0 + 1, g + 1, batch, rows);
                    store(a20, out, scratch, r0 + 2, g, batch, rows);
                    store(a21, out, scratch, r0 + 2, g + 1, batch, rows);
                    store(a30, out, scratch, r0 + 3, g, batch, rows);
                    store(a31, out, scratch, r0 + 3, g + 1, batch, rows);
                }
            }
        }
        for (int r = fullEnd; r < rowEnd; r++) {
            for (int v = 0; v < batch; v++) {
                out[v * rows + r] = kernel.dotPrepared(data, (long) r * cols, cols, x, v * cols);
            }
        }
    }

    // ---------------------------------------------------------------- Q8_0, ggml_vec_dot_q8_0_q8_0's order

    private static final int Q8_BLOCK_BYTES = Q8_0Blocks.BLOCK_BYTES;
    private static final VectorSpecies<Byte> B32 = ByteVector.SPECIES_256;
    private static final VectorSpecies<Short> S32 = ShortVector.SPECIES_512;
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Float> F4 = FloatVector.SPECIES_128;

    /**
     * Q8_0 rows in the order of {@link BlockKernel.SumOrder#GGML_LANES}: per (row, vector) eight accumulators, accumulator k
     * taking fma(sum of elements 4k .. 4k+3 of the block, d_w * d_x, acc_k) block after block, then
     * {@link KernelVectors#sumOfEight}.
     */
    static void q8_0(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out, float[] scratch) {
        if (x.batch() == 1) {
            q8_0Decode(data, cols, rowStart, rowEnd, x, out);
        } else {
            q8_0Batch(kernel, data, cols, rowStart, rowEnd, rows, x, out, scratch);
        }
    }

    /**
     * One row at a time; the 32 products of a block as 16-bit lanes (|w x| <= 2^14), summed in pairs and then in
     * fours by reinterpreting them as 32-bit and 64-bit lanes: eight sums, the accumulators' inputs, in eight lanes.
     */
    private static void q8_0Decode(MemorySegment data, int cols, int rowStart, int rowEnd, PreparedActivations x,
            float[] out) {
        byte[] xq = x.quants();
        float[] xd = x.scales();
        int blocks = cols / 32;
        long rowBytes = (long) blocks * Q8_BLOCK_BYTES;
        for (int r = rowStart; r < rowEnd; r++) {
            FloatVector acc = FloatVector.zero(F8);
            long at = r * rowBytes;
            for (int b = 0; b < blocks; b++, at += Q8_BLOCK_BYTES) {
                ShortVector xs = (ShortVector) ByteVector.fromArray(B32, xq, b * 32)
                        .convertShape(VectorOperators.B2S, S32, 0);
                ShortVector ws = (ShortVector) ByteVector.fromMemorySegment(B32, data, at + 2, ByteOrder.LITTLE_ENDIAN)
                        .convertShape(VectorOperators.B2S, S32, 0);
                IntVector products = ws.mul(xs).reinterpretAsInts();
                IntVector pairs = products.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .add(products.lanewise(VectorOperators.ASHR, 16));
                LongVector pairs64 = pairs.reinterpretAsLongs();
                LongVector quads = pairs64.lanewise(VectorOperators.LSHL, 32).lanewise(VectorOperators.ASHR, 32)
                        .add(pairs64.lanewise(VectorOperators.ASHR, 32));
                FloatVector sums = (FloatVector) quads.convertShape(VectorOperators.L2F, F8, 0);
                acc = sums.fma(FloatVector.broadcast(F8, KernelVectors.f16(data, at) * xd[b]), acc);
            }
            out[r] = ((acc.lane(0) + acc.lane(4)) + (acc.lane(2) + acc.lane(6)))
                    + ((acc.lane(1) + acc.lane(5)) + (acc.lane(3) + acc.lane(7)));
        }
    }

    /** Rows per tile of {@link #q8_0Batch}. */
    static final int Q8_BATCH_ROWS = 4;

    /** Per thread: a tile of Q8_0 rows unpacked to floats in the order {@link #q8_0Batch} reads them, and its sums. */
    private static final ThreadLocal<float[][]> Q8_TILES = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * Four rows and 32 vectors (two groups) at a time. The eight accumulators of a (row, vector) pair are independent
     * chains (accumulator k takes elements 4k .. 4k+3 of every block, block after block), so they are computed one k
     * after the other: for each k, eight accumulator vectors (4 rows x 2 groups) run over all the blocks, each block
     * adding fma(exact 4-element sum, d_w * d_x, acc) as the dot product does; the eight results per pair are kept
     * in an L1 scratch and summed at the end as {@link KernelVectors#sumOfEight}. The rows are first unpacked to
     * floats (exact), element 4k + e of block b of tile row i at {@code (k * blocks + b) * 16 + 4 i + e}, so that one
     * pass over k reads a contiguous stretch; this unpacking serves every group of the batch.
     */
    private static void q8_0Batch(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd,
            int rows, PreparedActivations x, float[] out, float[] scratch) {
        float[] xt = x.tokenGroups();
        float[] xts = x.tokenGroupScales();
        int groups = x.tokenGroupCount();
        int batch = x.batch();
        int blocks = cols / 32;
        long rowBytes = (long) blocks * Q8_BLOCK_BYTES;
        int scalesAt = blocks * 8 * L;
        int sumsAt = scalesAt + Q8_BATCH_ROWS * blocks;
        float[][] holder = Q8_TILES.get();
        int need = sumsAt + 8 * 8 * L;
        if (holder[0].length < need) {
            holder[0] = new float[need];
        }
        float[] wt = holder[0];
        float[] wf = scratch;
        int r0 = rowStart;
        for (; r0 + Q8_BATCH_ROWS <= rowEnd; r0 += Q8_BATCH_ROWS) {
            for (int i = 0; i < Q8_BATCH_ROWS; i++) {
                long base = (r0 + i) * rowBytes;
                for (int b = 0; b < blocks; b++) {
                    long at = base + (long) b * Q8_BLOCK_BYTES;
                    wt[scalesAt + i * blocks + b] = KernelVectors.f16(data, at);
                    unpackQ8(data, at, wf);
                    for (int k = 0; k < 8; k++) {
                        FloatVector.fromArray(F4, wf, 4 * k).intoArray(wt, (k * blocks + b) * L + 4 * i);
                    }
                }
            }
            for (int g = 0; g < groups; g += 2) {
                for (int k = 0; k < 8; k++) {
                    FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F);
                    FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
                    FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F);
                    FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
                    int wk = k * blocks * L;
                    for (int b = 0; b < blocks; b++) {
                        int x0 = ((g * blocks + b) * 32 + 4 * k) * GROUP;
                        int x1 = (((g + 1) * blocks + b) * 32 + 4 * k) * GROUP;
                        int w = wk + b * L;
                        FloatVector v0 = FloatVector.fromArray(F, xt, x0);
                        FloatVector v1 = FloatVector.fromArray(F, xt, x1);
                        FloatVector s00 = v0.mul(wt[w]), s01 = v1.mul(wt[w]);
                        FloatVector s10 = v0.mul(wt[w + 4]), s11 = v1.mul(wt[w + 4]);
                        FloatVector s20 = v0.mul(wt[w + 8]), s21 = v1.mul(wt[w + 8]);
                        FloatVector s30 = v0.mul(wt[w + 12]), s31 = v1.mul(wt[w + 12]);
                        for (int e = 1; e < 4; e++) {
                            v0 = FloatVector.fromArray(F, xt, x0 + e * GROUP);
                            v1 = FloatVector.fromArray(F, xt, x1 + e * GROUP);
                            FloatVector c = FloatVector.broadcast(F, wt[w + e]);
                            s00 = c.fma(v0, s00);
                            s01 = c.fma(v1, s01);
                            c = FloatVector.broadcast(F, wt[w + 4 + e]);
                            s10 = c.fma(v0, s10);
                            s11 = c.fma(v1, s11);
                            c = FloatVector.broadcast(F, wt[w + 8 + e]);
                            s20 = c.fma(v0, s20);
                            s21 = c.fma(v1, s21);
                            c = FloatVector.broadcast(F, wt[w + 12 + e]);
                            s30 = c.fma(v0, s30);
                            s31 = c.fma(v1, s31);
                        }
                        FloatVector d0 = FloatVector.fromArray(F, xts, (g * blocks + b) * GROUP);
                        FloatVector d1 = FloatVector.fromArray(F, xts, ((g + 1) * blocks + b) * GROUP);
                        float w0 = wt[scalesAt + b];
                        float w1 = wt[scalesAt + blocks + b];
                        float w2 = wt[scalesAt + 2 * blocks + b];
                        float w3 = wt[scalesAt + 3 * blocks + b];
                        a00 = s00.fma(d0.mul(w0), a00);
                        a01 = s01.fma(d1.mul(w0), a01);
                        a10 = s10.fma(d0.mul(w1), a10);
                        a11 = s11.fma(d1.mul(w1), a11);
                        a20 = s20.fma(d0.mul(w2), a20);
                        a21 = s21.fma(d1.mul(w2), a21);
                        a30 = s30.fma(d0.mul(w3), a30);
                        a31 = s31.fma(d1.mul(w3), a31);
                    }
                    int at = sumsAt + k * 8 * L;
                    a00.intoArray(wt, at);
                    a01.intoArray(wt, at + L);
                    a10.intoArray(wt, at + 2 * L);
                    a11.intoArray(wt, at + 3 * L);
                    a20.intoArray(wt, at + 4 * L);
                    a21.intoArray(wt, at + 5 * L);
                    a30.intoArray(wt, at + 6 * L);
                    a31.intoArray(wt, at + 7 * L);
                }
                for (int pair = 0; pair < 8; pair++) {
                    int at = sumsAt + pair * L;
                    FloatVector a0 = FloatVector.fromArray(F, wt, at);
                    FloatVector a1 = FloatVector.fromArray(F, wt, at + 8 * L);
                    FloatVector a2 = FloatVector.fromArray(F, wt, at + 16 * L);
                    FloatVector a3 = FloatVector.fromArray(F, wt, at + 24 * L);
                    FloatVector a4 = FloatVector.fromArray(F, wt, at + 32 * L);
                    FloatVector a5 = FloatVector.fromArray(F, wt, at + 40 * L);
                    FloatVector a6 = FloatVector.fromArray(F, wt, at + 48 * L);
                    FloatVector a7 = FloatVector.fromArray(F, wt, at + 56 * L);
                    store(a0.add(a4).add(a2.add(a6)).add(a1.add(a5).add(a3.add(a7))), out, scratch, r0 + pair / 2,
                            g + pair % 2, batch, rows);
                }
            }
        }
        for (int r = r0; r < rowEnd; r++) {
            for (int v = 0; v < batch; v++) {
                out[v * rows + r] = kernel.dotPrepared(data, (long) r * cols, cols, x, v * cols);
            }
        }
    }

    /** The 32 int8 values of the Q8_0 block at {@code block}, as floats, into {@code wf[0 .. 32)}. */
    private static void unpackQ8(MemorySegment data, long block, float[] wf) {
        ((FloatVector) ByteVector.fromMemorySegment(B16, data, block + 2, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2F, F, 0)).intoArray(wf, 0);
        ((FloatVector) ByteVector.fromMemorySegment(B16, data, block + 18, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2F, F, 0)).intoArray(wf, 16);
    }

    /** The 32 values q - 8 of the Q4_0 block at {@code block}, as floats, into {@code wf[at .. at + 32)}. */
    private static void unpackQ4(MemorySegment data, long block, float[] wf, int at) {
        IntVector q = (IntVector) ByteVector.fromMemorySegment(B16, data, block + 2, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, I, 0);
        ((FloatVector) q.and(0x0F).sub(8).convert(VectorOperators.I2F, 0)).intoArray(wf, at);
        ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0x0F).sub(8).convert(VectorOperators.I2F, 0))
                .intoArray(wf, at + 16);
    }

    /** Scratch floats a thread needs for these products. */
    static final int SCRATCH = 4 * 32 + L;

    private static final ThreadLocal<float[]> SCRATCHES = ThreadLocal.withInitial(() -> new float[SCRATCH]);

    /** This thread's scratch for these products. */
    static float[] scratch() {
        return SCRATCHES.get();
    }

    /** Lanes of a result vector (row r, vectors of group g) into out, skipping padding vectors. */
    private static void store(FloatVector acc, float[] out, float[] scratch, int r, int g, int batch, int rows) {
        int first = g * GROUP;
        if (first >= batch) {
            return;
        }
        acc.intoArray(scratch, 4 * 32);
        int n = Math.min(GROUP, batch - first);
        for (int t = 0; t < n; t++) {
            out[(first + t) * rows + r] = scratch[4 * 32 + t];
        }
    }
}
