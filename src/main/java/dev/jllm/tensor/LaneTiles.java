package dev.jllm.tensor;

import dev.jllm.tensor.BlockKernel.MinimumSum;
import java.lang.foreign.MemorySegment;
import java.util.Set;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Batched products for every {@link BlockKernel.SumOrder#GGML_LANES} type, from the type's decoding alone: 4 rows
 * against 32 vectors at a time (two groups of {@link PreparedActivations#tokenGroups()}, lanes = vectors), each weight
 * {@code scale * q} broadcast as a float.
 *
 * <p>Bit-identical to the kernel's dot product. The eight lane accumulators of a (row, vector) pair are independent
 * chains (lane k takes elements 4k .. 4k+3 of every 32 values, block after block), so they are computed one k after
 * the other, eight pairs (4 rows x 2 groups) at a time: per block, a float lane sums the block's at most 32 products
 * {@code scale * q * a}, each at most 4096 * 128 in magnitude, so every partial sum is an integer below 2^24, exact,
 * and equal to the int lane sum; then {@code fma(laneSum, d_w * d_x, acc_k)} as the dot product does. The minimum
 * terms follow {@link MinimumSum} with the same operations, and the eight lanes are summed as
 * {@link KernelVectors#sumOfEight}. The rows are first unpacked to floats in the order the k loop reads them
 * (element 32c + 4k + t of block b of tile row i at {@code ((k * blocks + b) * chunks + c) * 16 + 4i + t}, chunks =
 * 32-value runs per block), once for every group of the batch.
 */
final class LaneTiles implements RowTiles {

    static final LaneTiles INSTANCE = new LaneTiles();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Float> F4 = FloatVector.SPECIES_128;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final int L = 16;
    private static final int GROUP = PreparedActivations.GROUP;
    private static final int ROWS = 4;
    private static final int PAIRS = 2 * ROWS;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Per thread: the tile's decoded rows, its weights in k order, and the lane results of one group pair. */
    private static final class Scratch {
        final UnpackedBlocks[] rows = {new UnpackedBlocks(), new UnpackedBlocks(), new UnpackedBlocks(),
            new UnpackedBlocks()};
        float[] weights = new float[0];
        final float[] lanes = new float[8 * PAIRS * L];
        final float[] mins = new float[PAIRS * L];
        final float[] block = new float[32];
    }

    private LaneTiles() {
    }

    @Override
    public int rowTile(int batch) {
        return batch > 1 && BlockTiles.AVAILABLE ? ROWS : 0;
    }

    @Override
    public Set<ActivationLayout> layouts(BlockKernel kernel, int rows, int batch) {
        return batch > 1 ? BlockTiles.withLeftovers(kernel, rows % ROWS != 0) : kernel.dotLayouts();
    }

    @Override
    public void productRows(BlockKernel kernel, MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out) {
        BlockDecoder decoder = kernel.blocks;
        int size = decoder.blockSize;
        int blocks = cols / size;
        int chunks = size / 32;
        MinimumSum minimums = kernel.minimumSum;
        float[] xt = x.tokenGroups();
        float[] xts = x.tokenGroupScales();
        float[] xtm = minimums == MinimumSum.NONE ? null : x.tokenGroupSums();
        int groups = x.tokenGroupCount();
        int batch = x.batch();
        Scratch s = SCRATCH.get();
        if (s.weights.length < ROWS * cols) {
            s.weights = new float[ROWS * cols];
        }
        float[] w = s.weights;
        int fullEnd = rowStart + (rowEnd - rowStart) / ROWS * ROWS;
        for (int r0 = rowStart; r0 < fullEnd; r0 += ROWS) {
            for (int i = 0; i < ROWS; i++) {
                UnpackedBlocks u = s.rows[i].ensure(blocks, size);
                decoder.unpack(data, (long) (r0 + i) * blocks, blocks, u);
                inLaneOrder(kernel, u, blocks, chunks, w, i, s.block);
            }
            for (int g = 0; g < groups; g += 2) {
                int x0 = g * cols * GROUP;
                int x1 = (g + 1) * cols * GROUP;
                for (int k = 0; k < 8; k++) {
                    FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00;
                    FloatVector a20 = a00, a21 = a00, a30 = a00, a31 = a00;
                    for (int b = 0; b < blocks; b++) {
                        FloatVector dx0 = FloatVector.fromArray(F, xts, (g * blocks + b) * GROUP);
                        FloatVector dx1 = FloatVector.fromArray(F, xts, ((g + 1) * blocks + b) * GROUP);
                        if (minimums == MinimumSum.IN_LANES) {
                            int c0 = (g * cols) / BlockDecoder.SCALE_GROUP;
                            int c1 = ((g + 1) * cols) / BlockDecoder.SCALE_GROUP;
                            int j = b * 16 + 2 * k;
                            a00 = minimumPair(s.rows[0], j, xtm, c0, dx0, b, a00);
                            a01 = minimumPair(s.rows[0], j, xtm, c1, dx1, b, a01);
                            a10 = minimumPair(s.rows[1], j, xtm, c0, dx0, b, a10);
                            a11 = minimumPair(s.rows[1], j, xtm, c1, dx1, b, a11);
                            a20 = minimumPair(s.rows[2], j, xtm, c0, dx0, b, a20);
                            a21 = minimumPair(s.rows[2], j, xtm, c1, dx1, b, a21);
                            a30 = minimumPair(s.rows[3], j, xtm, c0, dx0, b, a30);
                            a31 = minimumPair(s.rows[3], j, xtm, c1, dx1, b, a31);
                        }
                        FloatVector s00 = FloatVector.zero(F), s01 = s00, s10 = s00, s11 = s00;
                        FloatVector s20 = s00, s21 = s00, s30 = s00, s31 = s00;
                        int wAt = (k * blocks + b) * chunks * L;
                        for (int c = 0; c < chunks; c++) {
                            for (int t = 0; t < 4; t++) {
                                int e = b * size + 32 * c + 4 * k + t;
                                FloatVector v0 = FloatVector.fromArray(F, xt, x0 + e * GROUP);
                                FloatVector v1 = FloatVector.fromArray(F, xt, x1 + e * GROUP);
                                int wi = wAt + c * L + t;
                                FloatVector wv = FloatVector.broadcast(F, w[wi]);
                                s00 = wv.fma(v0, s00);
                                s01 = wv.fma(v1, s01);
                                wv = FloatVector.broadcast(F, w[wi + 4]);
                                s10 = wv.fma(v0, s10);
                                s11 = wv.fma(v1, s11);
                                wv = FloatVector.broadcast(F, w[wi + 8]);
                                s20 = wv.fma(v0, s20);
                                s21 = wv.fma(v1, s21);
                                wv = FloatVector.broadcast(F, w[wi + 12]);
                                s30 = wv.fma(v0, s30);
                                s31 = wv.fma(v1, s31);
                            }
                        }
                        float d0 = s.rows[0].d[b];
                        float d1 = s.rows[1].d[b];
                        float d2 = s.rows[2].d[b];
                        float d3 = s.rows[3].d[b];
                        a00 = s00.fma(dx0.mul(d0), a00);
                        a01 = s01.fma(dx1.mul(d0), a01);
                        a10 = s10.fma(dx0.mul(d1), a10);
                        a11 = s11.fma(dx1.mul(d1), a11);
                        a20 = s20.fma(dx0.mul(d2), a20);
                        a21 = s21.fma(dx1.mul(d2), a21);
                        a30 = s30.fma(dx0.mul(d3), a30);
                        a31 = s31.fma(dx1.mul(d3), a31);
                    }
                    int at = k * PAIRS * L;
                    a00.intoArray(s.lanes, at);
                    a01.intoArray(s.lanes, at + L);
                    a10.intoArray(s.lanes, at + 2 * L);
                    a11.intoArray(s.lanes, at + 3 * L);
                    a20.intoArray(s.lanes, at + 4 * L);
                    a21.intoArray(s.lanes, at + 5 * L);
                    a30.intoArray(s.lanes, at + 6 * L);
                    a31.intoArray(s.lanes, at + 7 * L);
                }
                for (int pair = 0; pair < PAIRS; pair++) {
                    int i = pair / 2;
                    int grp = g + pair % 2;
                    int at = pair * L;
                    FloatVector[] a = new FloatVector[8];
                    for (int k = 0; k < 8; k++) {
                        a[k] = FloatVector.fromArray(F, s.lanes, k * PAIRS * L + at);
                    }
                    FloatVector sum = a[0].add(a[4]).add(a[2].add(a[6])).add(a[1].add(a[5]).add(a[3].add(a[7])));
                    if (minimums != MinimumSum.NONE && minimums != MinimumSum.IN_LANES) {
                        sum = sum.add(minimumsApart(minimums, s.rows[i], blocks, xts, xtm, grp, cols));
                    }
                    store(sum, out, s.block, r0 + i, grp, batch, rows);
                }
            }
        }
        for (int r = fullEnd; r < rowEnd; r++) {
            for (int v = 0; v < batch; v++) {
                out[v * rows + r] = kernel.dotPrepared(data, (long) r * cols, cols, x, v * cols);
            }
        }
    }

    /** Tile row i's weights {@code scale * q} into {@code w} in the order of the class comment. */
    private static void inLaneOrder(BlockKernel kernel, UnpackedBlocks u, int blocks, int chunks, float[] w, int i,
            float[] block) {
        for (int b = 0; b < blocks; b++) {
            for (int c = 0; c < chunks; c++) {
                kernel.scaledQuants(u, b * chunks * 32 + c * 32, 32, block, 0);
                for (int k = 0; k < 8; k++) {
                    FloatVector.fromArray(F4, block, 4 * k).intoArray(w, ((k * blocks + b) * chunks + c) * L + 4 * i);
                }
            }
        }
    }

    /** Q2_K's minimum term of lane k (groups j and j + 1 of block b) for the 16 vectors of a group. */
    private static FloatVector minimumPair(UnpackedBlocks u, int j, float[] xtm, int chunk0, FloatVector dx, int b,
            FloatVector acc) {
        FloatVector pair = FloatVector.fromArray(F, xtm, (chunk0 + j) * GROUP).mul(u.mins[j])
                .add(FloatVector.fromArray(F, xtm, (chunk0 + j + 1) * GROUP).mul(u.mins[j + 1]));
        return pair.fma(dx.mul(u.dmin[b]).neg(), acc);
    }

    /** The minimum terms added after the lanes (Q4_1, Q5_1, Q4_K, Q5_K), for the 16 vectors of group g. */
    private static FloatVector minimumsApart(MinimumSum minimums, UnpackedBlocks u, int blocks, float[] xts,
            float[] xtm, int g, int cols) {
        FloatVector mins = FloatVector.zero(F);
        FloatVector m0 = mins, m1 = mins, m2 = mins, m3 = mins;
        int chunks16 = cols / BlockDecoder.SCALE_GROUP;
        for (int b = 0; b < blocks; b++) {
            FloatVector dx = FloatVector.fromArray(F, xts, (g * blocks + b) * GROUP);
            switch (minimums) {
                case PRODUCTS_APART -> mins = mins.add(FloatVector.fromArray(F, xtm, (g * blocks + b) * GROUP)
                        .mul(u.dmin[b]));
                case FOUR_LANES_APART -> {
                    FloatVector dmin = dx.mul(u.dmin[b]).neg();
                    int base = g * chunks16 + b * 16;
                    m0 = fourLane(u, b, 0, xtm, base).fma(dmin, m0);
                    m1 = fourLane(u, b, 1, xtm, base).fma(dmin, m1);
                    m2 = fourLane(u, b, 2, xtm, base).fma(dmin, m2);
                    m3 = fourLane(u, b, 3, xtm, base).fma(dmin, m3);
                }
                case ONE_APART -> {
                    FloatVector dmin = dx.mul(u.dmin[b]).neg();
                    int base = g * chunks16 + b * 16;
                    FloatVector sum = FloatVector.zero(F);
                    for (int j = 0; j < 16; j++) {
                        sum = sum.add(FloatVector.fromArray(F, xtm, (base + j) * GROUP).mul(u.mins[b * 16 + j]));
                    }
                    mins = dmin.fma(sum, mins);
                }
                default -> throw new IllegalStateException(minimums.toString());
            }
        }
        return minimums == MinimumSum.FOUR_LANES_APART ? m0.add(m2).add(m1.add(m3)) : mins;
    }

    /** Q4_K's minimum lane m: min_2m T_2m + min_2m+1 T_2m+1 (T: the activation sum over a group of 32), exact. */
    private static FloatVector fourLane(UnpackedBlocks u, int b, int m, float[] xtm, int base) {
        int j = 4 * m;
        FloatVector t0 = FloatVector.fromArray(F, xtm, (base + j) * GROUP)
                .add(FloatVector.fromArray(F, xtm, (base + j + 1) * GROUP));
        FloatVector t1 = FloatVector.fromArray(F, xtm, (base + j + 2) * GROUP)
                .add(FloatVector.fromArray(F, xtm, (base + j + 3) * GROUP));
        return t0.mul(u.mins[b * 16 + j]).add(t1.mul(u.mins[b * 16 + j + 2]));
    }

    /** Lanes of a result (row r, vectors of group g) into out, skipping padding vectors. */
    private static void store(FloatVector acc, float[] out, float[] lanes, int r, int g, int batch, int rows) {
        int first = g * GROUP;
        if (first >= batch) {
            return;
        }
        acc.intoArray(lanes, 0);
        int n = Math.min(GROUP, batch - first);
        for (int t = 0; t < n; t++) {
            out[(first + t) * rows + r] = lanes[t];
        }
    }
}
