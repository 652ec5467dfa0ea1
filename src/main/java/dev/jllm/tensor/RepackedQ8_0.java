package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q8_0 repacked 32 rows to a group ({@link RepackedKernel}). A (group, block) is 1088 bytes: for each value i of the
 * block, the 32 rows' int8 quants (byte 32i + r is row r's), then the 32 rows' fp16 scales.
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

    RepackedQ8_0(int cols) {
        super(GgmlType.Q8_0, cols, GROUP_BLOCK_BYTES, SCALES_AT);
    }

    @Override
    int quant(MemorySegment data, long at, int lane, int i) {
        return data.get(ValueLayout.JAVA_BYTE, at + 32L * i + lane);
    }

    @Override
    void repackGroups(MemorySegment from, long rows, MemorySegment to, int firstGroup, int endGroup) {
        long rowBytes = (long) blocks * SOURCE_BLOCK_BYTES;
        byte[] tile = new byte[ROWS * 32];
        byte[] transposed = new byte[ROWS * 32];
        for (int g = firstGroup; g < endGroup; g++) {
            int valid = (int) Math.min(ROWS, rows - (long) g * ROWS);
            if (valid < ROWS) {
                java.util.Arrays.fill(tile, (byte) 0);
            }
            for (int b = 0; b < blocks; b++) {
                long dst = groupBlock(g, b);
                long src = (long) g * ROWS * rowBytes + (long) b * SOURCE_BLOCK_BYTES;
                for (int lane = 0; lane < valid; lane++, src += rowBytes) {
                    to.set(KernelVectors.SHORT_LE, dst + SCALES_AT + 2L * lane, from.get(KernelVectors.SHORT_LE, src));
                    MemorySegment.copy(from, ValueLayout.JAVA_BYTE, src + 2, tile, lane * 32, 32);
                }
                for (int lane = 0; lane < ROWS; lane++) {
                    for (int i = 0; i < 32; i++) {
                        transposed[i * ROWS + lane] = tile[lane * 32 + i];
                    }
                }
                MemorySegment.copy(transposed, 0, to, ValueLayout.JAVA_BYTE, dst, ROWS * 32);
            }
        }
    }

    @Override
    void blockSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count, int[] sums) {
        switch (count) {
            case 4 -> {
                sums2(data, at, n, xq, x0, x0 + xStride, sums, 0);
                sums2(data, at, n, xq, x0 + 2 * xStride, x0 + 3 * xStride, sums, 2 * CHUNK_BLOCKS * ROWS);
            }
            case 3 -> {
                sums2(data, at, n, xq, x0, x0 + xStride, sums, 0);
                sums1(data, at, n, xq, x0 + 2 * xStride, sums, 2 * CHUNK_BLOCKS * ROWS);
            }
            case 2 -> sums2(data, at, n, xq, x0, x0 + xStride, sums, 0);
            default -> sums1(data, at, n, xq, x0, sums, 0);
        }
    }

    private static void sums1(MemorySegment data, long at, int n, byte[] xq, int x0, int[] sums, int s0) {
        for (int k = 0; k < n; k++, at += GROUP_BLOCK_BYTES, x0 += 32) {
            IntVector lo = IntVector.zero(I512);
            IntVector hi = IntVector.zero(I512);
            for (int p = 0; p < 16; p++) {
                ShortVector w0 = widen(data, at + 64L * p);
                ShortVector w1 = widen(data, at + 64L * p + 32);
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
                ShortVector w0 = widen(data, at + 64L * p);
                ShortVector w1 = widen(data, at + 64L * p + 32);
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

    /** The 32 int8 quants at {@code at} as shorts. */
    private static ShortVector widen(MemorySegment data, long at) {
        return (ShortVector) ByteVector.fromMemorySegment(B256, data, at, LE).convertShape(VectorOperators.B2S, S512, 0);
    }
}
