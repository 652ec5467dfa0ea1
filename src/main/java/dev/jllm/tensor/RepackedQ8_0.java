package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q8_0 repacked 32 rows to a group ({@link RepackedKernel}). A (group, block) is 1088 bytes: for each value i of the
 * block, the 32 rows' int8 quants (byte 32i + r is row r's), then the 32 rows' fp16 scales (in the order of
 * {@link RepackedKernel#scaleAt}).
 *
 * <p>Products of two int8 values reach 128 * 127, so a 16-bit lane holds the sum of two of them (at most
 * 2 * 128 * 127 = 32512 with activations in [-127, 127], see {@link RepackedQ4_0}) but not of 32: each pair of
 * values is summed in 16-bit lanes, and the 16 pair sums of a block in 32-bit lanes, exact.
 */
final class RepackedQ8_0 extends RepackedKernel {

    static final int GROUP_BLOCK_BYTES = 1088;
    private static final int SCALES_AT = 1024;
    private static final int SOURCE_BLOCK_BYTES = 34;
    private static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;

    RepackedQ8_0(int cols) {
        super(GgmlType.Q8_0, cols, GROUP_BLOCK_BYTES, SCALES_AT);
    }

    @Override
    int quant(MemorySegment data, long at, int lane, int i) {
        return data.get(ValueLayout.JAVA_BYTE, at + 32L * i + lane);
    }

    /**
     * Per group: the 32 rows' bytes copied to an array (one bulk copy a row); each block transposed eight rows by
     * eight values at a time in longs (three rounds of swaps: bytes, pairs, quads) into another array, copied out in
     * one piece.
     */
    @Override
    void repackGroups(MemorySegment from, long rows, MemorySegment to, int firstGroup, int endGroup) {
        int rowBytes = blocks * SOURCE_BLOCK_BYTES;
        byte[] in = new byte[ROWS * rowBytes];
        long[] out = new long[blocks * GROUP_BLOCK_BYTES / 8];
        long[] m = new long[8];
        for (int g = firstGroup; g < endGroup; g++) {
            int valid = (int) Math.min(ROWS, rows - (long) g * ROWS);
            if (valid < ROWS) {
                java.util.Arrays.fill(in, (byte) 0); // padding rows: zero quants and scales
            }
            MemorySegment.copy(from, ValueLayout.JAVA_BYTE, (long) g * ROWS * rowBytes, in, 0, valid * rowBytes);
            for (int b = 0; b < blocks; b++) {
                int o = b * (GROUP_BLOCK_BYTES / 8);
                for (int r0 = 0; r0 < ROWS; r0 += 8) {
                    int src = r0 * rowBytes + b * SOURCE_BLOCK_BYTES;
                    for (int r = 0; r < 8; r++) {
                        short d = (short) RepackedQ4_0.SHORTS.get(in, src + r * rowBytes);
                        int at = 8 * (o + SCALES_AT / 8) + scaleAt(r0 + r);
                        long shift = 8L * (at % 8);
                        out[at / 8] = out[at / 8] & ~(0xFFFFL << shift) | (d & 0xFFFFL) << shift;
                    }
                    for (int k = 0; k < 4; k++) {
                        for (int r = 0; r < 8; r++) {
                            m[r] = (long) RepackedQ4_0.LONGS.get(in, src + r * rowBytes + 2 + 8 * k);
                        }
                        transpose8(m);
                        for (int c = 0; c < 8; c++) {
                            out[o + 4 * (8 * k + c) + r0 / 8] = m[c];
                        }
                    }
                }
            }
            MemorySegment.copy(out, 0, to, RepackedQ4_0.LONG_LE, groupBlock(g, 0), out.length);
        }
    }

    /** Row r's byte c (little-endian) to long c's byte r. */
    static void transpose8(long[] m) {
        for (int r = 0; r < 8; r += 2) {
            long t = ((m[r] >>> 8) ^ m[r + 1]) & 0x00FF00FF00FF00FFL;
            m[r + 1] ^= t;
            m[r] ^= t << 8;
        }
        for (int r = 0; r < 8; r += (r & 1) == 0 ? 1 : 3) {
            long t = ((m[r] >>> 16) ^ m[r + 2]) & 0x0000FFFF0000FFFFL;
            m[r + 2] ^= t;
            m[r] ^= t << 16;
        }
        for (int r = 0; r < 4; r++) {
            long t = ((m[r] >>> 32) ^ m[r + 4]) & 0x00000000FFFFFFFFL;
            m[r + 4] ^= t;
            m[r] ^= t << 32;
        }
    }

    @Override
    boolean shortSums() {
        return false;
    }

    @Override
    void blockSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count, int[] sums,
            short[] shortSums) {
        switch (count) {
            case 4 -> floatSums4(data, at, n, xq, x0, xStride, sums, FLOATS.get());
            case 3 -> {
                sums2(data, at, n, xq, x0, x0 + xStride, sums, 0);
                sums1(data, at, n, xq, x0 + 2 * xStride, sums, 2 * CHUNK_BLOCKS * ROWS);
            }
            case 2 -> sums2(data, at, n, xq, x0, x0 + xStride, sums, 0);
            default -> sums1(data, at, n, xq, x0, sums, 0);
        }
    }

    private static final ThreadLocal<float[]> FLOATS =
            ThreadLocal.withInitial(() -> new float[VECTORS_AT_ONCE * CHUNK_BLOCKS * 32]);

    /**
     * Four vectors at once in float lanes: each weight vector (one value of a block, 16 rows) widened to floats once
     * and multiplied into the four vectors' accumulators by FMAs, which run on two ports where 16-bit multiplies run
     * on one. Exact all the same: every partial sum is an integer below 32 * 128 * 128 = 2^19, well within a float's
     * 24 bits, so the sums equal the integer ones.
     */
    private static void floatSums4(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int[] sums,
            float[] xf) {
        int values = 32 * n;
        for (int j = 0; j < VECTORS_AT_ONCE; j++) {
            int from = x0 + j * xStride;
            int to = j * CHUNK_BLOCKS * 32;
            for (int i = 0; i < values; i++) {
                xf[to + i] = xq[from + i];
            }
        }
        int stride = CHUNK_BLOCKS * 32;
        for (int k = 0; k < n; k++, at += GROUP_BLOCK_BYTES) {
            FloatVector a0 = FloatVector.zero(F512);
            FloatVector a1 = FloatVector.zero(F512);
            FloatVector b0 = FloatVector.zero(F512);
            FloatVector b1 = FloatVector.zero(F512);
            FloatVector c0 = FloatVector.zero(F512);
            FloatVector c1 = FloatVector.zero(F512);
            FloatVector d0 = FloatVector.zero(F512);
            FloatVector d1 = FloatVector.zero(F512);
            int x = 32 * k;
            for (int i = 0; i < 32; i++, x++) {
                FloatVector w0 = (FloatVector) ByteVector.fromMemorySegment(B128, data, at + 32L * i, LE)
                        .convertShape(VectorOperators.B2F, F512, 0);
                FloatVector w1 = (FloatVector) ByteVector.fromMemorySegment(B128, data, at + 32L * i + 16, LE)
                        .convertShape(VectorOperators.B2F, F512, 0);
                FloatVector v = FloatVector.broadcast(F512, xf[x]);
                a0 = w0.fma(v, a0);
                a1 = w1.fma(v, a1);
                v = FloatVector.broadcast(F512, xf[stride + x]);
                b0 = w0.fma(v, b0);
                b1 = w1.fma(v, b1);
                v = FloatVector.broadcast(F512, xf[2 * stride + x]);
                c0 = w0.fma(v, c0);
                c1 = w1.fma(v, c1);
                v = FloatVector.broadcast(F512, xf[3 * stride + x]);
                d0 = w0.fma(v, d0);
                d1 = w1.fma(v, d1);
            }
            storeInts(a0, a1, sums, 32 * k);
            storeInts(b0, b1, sums, stride + 32 * k);
            storeInts(c0, c1, sums, 2 * stride + 32 * k);
            storeInts(d0, d1, sums, 3 * stride + 32 * k);
        }
    }

    private static void storeInts(FloatVector low, FloatVector high, int[] sums, int at) {
        ((IntVector) low.convert(VectorOperators.F2I, 0)).intoArray(sums, at);
        ((IntVector) high.convert(VectorOperators.F2I, 0)).intoArray(sums, at + 16);
    }

    @Override
    boolean pairsGroups() {
        return true;
    }

    /** One vector against two groups, each activation broadcast serving both: {@link #sums1}'s arithmetic. */
    @Override
    void pairSums(MemorySegment data, long at, long next, int n, byte[] xq, int x0, short[] xsums, int xsumsAt,
            int[] sums, short[] unused) {
        for (int k = 0; k < n; k++, at += GROUP_BLOCK_BYTES, next += GROUP_BLOCK_BYTES, x0 += 32) {
            IntVector lo0 = IntVector.zero(I512);
            IntVector hi0 = IntVector.zero(I512);
            IntVector lo1 = IntVector.zero(I512);
            IntVector hi1 = IntVector.zero(I512);
            for (int p = 0; p < 16; p++) {
                ShortVector x0v = ShortVector.broadcast(S512, xq[x0 + 2 * p]);
                ShortVector x1v = ShortVector.broadcast(S512, xq[x0 + 2 * p + 1]);
                ShortVector pair0 = widen(data, at + 64L * p).mul(x0v).add(widen(data, at + 64L * p + 32).mul(x1v));
                ShortVector pair1 = widen(data, next + 64L * p).mul(x0v)
                        .add(widen(data, next + 64L * p + 32).mul(x1v));
                lo0 = lo0.add(pair0.convertShape(VectorOperators.S2I, I512, 0));
                hi0 = hi0.add(pair0.convertShape(VectorOperators.S2I, I512, 1));
                lo1 = lo1.add(pair1.convertShape(VectorOperators.S2I, I512, 0));
                hi1 = hi1.add(pair1.convertShape(VectorOperators.S2I, I512, 1));
            }
            lo0.intoArray(sums, 32 * k);
            hi0.intoArray(sums, 32 * k + 16);
            lo1.intoArray(sums, (CHUNK_BLOCKS + k) * 32);
            hi1.intoArray(sums, (CHUNK_BLOCKS + k) * 32 + 16);
        }
    }

    /** 32 rows' int8 quants at {@code at} as 16-bit lanes. */
    private static ShortVector widen(MemorySegment data, long at) {
        return (ShortVector) ByteVector.fromMemorySegment(B256, data, at, LE).convertShape(VectorOperators.B2S, S512, 0);
    }

    private static void sums1(MemorySegment data, long at, int n, byte[] xq, int x0, int[] sums, int s0) {
        for (int k = 0; k < n; k++, at += GROUP_BLOCK_BYTES, x0 += 32) {
            IntVector lo = IntVector.zero(I512);
            IntVector hi = IntVector.zero(I512);
            for (int p = 0; p < 16; p++) {
                ShortVector w0 = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 64L * p, LE)
                        .convertShape(VectorOperators.B2S, S512, 0);
                ShortVector w1 = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 64L * p + 32, LE)
                        .convertShape(VectorOperators.B2S, S512, 0);
                ShortVector pair = w0.mul(xq[x0 + 2 * p]).add(w1.mul(xq[x0 + 2 * p + 1]));
                lo = lo.add(pair.convertShape(VectorOperators.S2I, I512, 0));
                hi = hi.add(pair.convertShape(VectorOperators.S2I, I512, 1));
            }
            lo.intoArray(sums, s0 + 32 * k);
            hi.intoArray(sums, s0 + 32 * k + 16);
        }
    }

    private static void sums2(MemorySegment data, long at, int n, byte[] xq, int x0, int x1, int[] sums, int s0) {
        for (int k = 0; k < n; k++, at += GROUP_BLOCK_BYTES, x0 += 32, x1 += 32) {
            IntVector lo0 = IntVector.zero(I512);
            IntVector hi0 = IntVector.zero(I512);
            IntVector lo1 = IntVector.zero(I512);
            IntVector hi1 = IntVector.zero(I512);
            for (int p = 0; p < 16; p++) {
                ShortVector w0 = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 64L * p, LE)
                        .convertShape(VectorOperators.B2S, S512, 0);
                ShortVector w1 = (ShortVector) ByteVector.fromMemorySegment(B256, data, at + 64L * p + 32, LE)
                        .convertShape(VectorOperators.B2S, S512, 0);
                ShortVector pair0 = w0.mul(xq[x0 + 2 * p]).add(w1.mul(xq[x0 + 2 * p + 1]));
                ShortVector pair1 = w0.mul(xq[x1 + 2 * p]).add(w1.mul(xq[x1 + 2 * p + 1]));
                lo0 = lo0.add(pair0.convertShape(VectorOperators.S2I, I512, 0));
                hi0 = hi0.add(pair0.convertShape(VectorOperators.S2I, I512, 1));
                lo1 = lo1.add(pair1.convertShape(VectorOperators.S2I, I512, 0));
                hi1 = hi1.add(pair1.convertShape(VectorOperators.S2I, I512, 1));
            }
            lo0.intoArray(sums, s0 + 32 * k);
            hi0.intoArray(sums, s0 + 32 * k + 16);
            lo1.intoArray(sums, s0 + (CHUNK_BLOCKS + k) * 32);
            hi1.intoArray(sums, s0 + (CHUNK_BLOCKS + k) * 32 + 16);
        }
    }
}
