package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
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
 * <p>Two shapes: for one vector (decoding) the lanes of a 16-lane vector are 16 rows (each row's block sum is a
 * lane reduction, exact in any order); for a batch the lanes are 16 vectors of
 * {@link PreparedActivations#tokenGroups()}, and each weight is broadcast. Both need 16-lane float vectors
 * (AVX-512); {@link #AVAILABLE} is false otherwise, and the kernels fall back to their dot products.
 */
final class BlockTiles {

    private BlockTiles() {
    }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    static final int L = 16;
    static final int GROUP = PreparedActivations.GROUP;

    /** True when the CPU's preferred float vectors have 16 lanes, so that these 512-bit products are compiled. */
    static final boolean AVAILABLE = KernelVectors.FLOAT_LANES == L && GROUP == L && !Boolean.getBoolean("jllm.notiles");

    /** Rows per tile for decoding: one per lane. */
    static final int DECODE_ROWS = L;
    /** Rows per tile for a batch. */
    static final int BATCH_ROWS = 4;

    // ---------------------------------------------------------------- Q4_0, repacked (interleaved) order

    private static final int Q4_BLOCK_BYTES = Q4_0Kernel.BLOCK_BYTES;

    /**
     * Sum over a Q4_0 block of nibble * x (nibbles 0..15, the -8 not yet applied): 16 lanes, lane j holding element j
     * (low nibble) plus element j + 16 (high nibble).
     */
    private static FloatVector q4Products(MemorySegment data, long block, FloatVector xLow, FloatVector xHigh) {
        IntVector q = (IntVector) ByteVector.fromMemorySegment(B16, data, block + 2, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, I, 0);
        FloatVector low = (FloatVector) q.and(0x0F).convert(VectorOperators.I2F, 0);
        FloatVector high = (FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0x0F).convert(VectorOperators.I2F, 0);
        return low.fma(xLow, high.mul(xHigh));
    }

    /**
     * Q4_0 rows in the order of {@link Q4_0Kernel#dotInterleavedOrder}: per (row, vector) acc = fma(blockSum,
     * d_w * d_x, acc) from the first block to the last.
     */
    static void q4_0Interleaved(MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out, float[] scratch) {
        if (x.batch() == 1) {
            q4_0InterleavedDecode(data, cols, rowStart, rowEnd, x, out, scratch);
        } else {
            q4_0InterleavedBatch(data, cols, rowStart, rowEnd, rows, x, out, scratch);
        }
    }

    private static void q4_0InterleavedDecode(MemorySegment data, int cols, int rowStart, int rowEnd,
            PreparedActivations x, float[] out, float[] scratch) {
        float[] dws = scratch;
        float[] sums = ThreadScratch.SUMS.get();
        float[] xf = x.quantFloats();
        float[] xsum = x.blockSums();
        float[] xd = x.scales();
        int blocks = cols / 32;
        long rowBytes = (long) blocks * Q4_BLOCK_BYTES;
        int r0 = rowStart;
        for (; r0 + L <= rowEnd; r0 += L) {
            FloatVector acc = FloatVector.zero(F);
            long base = r0 * rowBytes;
            for (int b = 0; b < blocks; b++) {
                FloatVector xLow = FloatVector.fromArray(F, xf, b * 32);
                FloatVector xHigh = FloatVector.fromArray(F, xf, b * 32 + 16);
                long at = base + (long) b * Q4_BLOCK_BYTES;
                for (int r = 0; r < L; r++) {
                    // Exact in any order: integers below 2^24.
                    sums[r] = q4Products(data, at + r * rowBytes, xLow, xHigh).reduceLanes(VectorOperators.ADD);
                }
                FloatVector sum = FloatVector.fromArray(F, sums, 0);
                for (int r = 0; r < L; r++) {
                    dws[r] = KernelVectors.f16(data, at + r * rowBytes);
                }
                // The weights' -8, exactly: sum((q - 8) x) = sum(q x) - 8 sum(x).
                sum = sum.add(-8f * xsum[b]);
                FloatVector d = FloatVector.fromArray(F, dws, 0).mul(xd[b]);
                acc = sum.fma(d, acc);
            }
            acc.intoArray(out, r0);
        }
        for (int r = r0; r < rowEnd; r++) {
            out[r] = Q4_0Kernel.dotInterleavedOrder(data, (long) r * cols, cols, x, 0);
        }
    }

    private static void q4_0InterleavedBatch(MemorySegment data, int cols, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out, float[] scratch) {
        float[] xt = x.tokenGroups();
        float[] xts = x.tokenGroupScales();
        int groups = x.tokenGroupCount();
        int batch = x.batch();
        int blocks = cols / 32;
        long rowBytes = (long) blocks * Q4_BLOCK_BYTES;
        float[] wf = scratch; // 4 rows x 32 weights, then 16 lanes to store a result
        int r0 = rowStart;
        for (; r0 + BATCH_ROWS <= rowEnd; r0 += BATCH_ROWS) {
            long base = r0 * rowBytes;
            for (int g = 0; g < groups; g += 2) {
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
        for (int r = r0; r < rowEnd; r++) {
            for (int v = 0; v < batch; v++) {
                out[v * rows + r] = Q4_0Kernel.dotInterleavedOrder(data, (long) r * cols, cols, x, v * cols);
            }
        }
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

    /** Per-thread buffers. */
    private static final class ThreadScratch {
        static final ThreadLocal<float[]> SUMS = ThreadLocal.withInitial(() -> new float[L]);
    }

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
