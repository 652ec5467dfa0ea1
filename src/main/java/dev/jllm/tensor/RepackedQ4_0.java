package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_0 repacked 32 rows to a group ({@link RepackedKernel}). A (group, block) is 576 bytes: eight 64-byte vectors of
 * 32 shorts, short lane r of vector v holding values 4v .. 4v+3 of row r's block as 4-bit two's complement numbers
 * q - 8 (value 4v + j in bits 4j .. 4j+3), then the 32 rows' fp16 scales (in the order of
 * {@link RepackedKernel#scaleAt}). So one shift left and one arithmetic shift
 * right bring any value to a signed 16-bit lane, and the top one takes the right shift alone.
 *
 * <p>Block sums in 16-bit lanes are exact: |q - 8| <= 8 and |x| <= 127 (an activation is -128 only where the input
 * was not finite, and then its scale is too), so 32 products sum to at most 32 * 8 * 127 = 32512 < 2^15.
 */
final class RepackedQ4_0 extends RepackedKernel {

    static final int GROUP_BLOCK_BYTES = 576;
    private static final int SCALES_AT = 512;
    private static final int SOURCE_BLOCK_BYTES = 18;

    RepackedQ4_0(int cols) {
        super(GgmlType.Q4_0, cols, GROUP_BLOCK_BYTES, SCALES_AT);
    }

    @Override
    int quant(MemorySegment data, long at, int lane, int i) {
        short s = data.get(KernelVectors.SHORT_LE, at + 64L * (i / 4) + 2L * lane);
        return (short) (s << (12 - 4 * (i % 4))) >> 12;
    }

    /**
     * Values 4v .. 4v+3 of a block (low nibbles of bytes 4v .. 4v+3 for v < 4, their high nibbles for v >= 4), given
     * as four bytes {@code b} whose low nibbles are the quants, as one short of four signed nibbles q - 8.
     */
    static short packNibbles(int b) {
        int x = b & 0x0F0F0F0F;
        int y = x | (x >>> 4);
        return (short) (((y & 0xFF) | ((y >>> 8) & 0xFF00)) ^ 0x8888);
    }

    /**
     * Per group: the 32 rows' bytes copied to an array (one bulk copy a row), the group's repacked bytes built in
     * another, copied out in one piece.
     */
    @Override
    void repackGroups(MemorySegment from, long rows, MemorySegment to, int firstGroup, int endGroup) {
        int rowBytes = blocks * SOURCE_BLOCK_BYTES;
        byte[] in = new byte[ROWS * rowBytes];
        short[] out = new short[blocks * GROUP_BLOCK_BYTES / 2];
        for (int g = firstGroup; g < endGroup; g++) {
            int valid = (int) Math.min(ROWS, rows - (long) g * ROWS);
            if (valid < ROWS) {
                java.util.Arrays.fill(in, (byte) 0); // padding rows: zero quants and scales
            }
            MemorySegment.copy(from, ValueLayout.JAVA_BYTE, (long) g * ROWS * rowBytes, in, 0, valid * rowBytes);
            for (int lane = 0; lane < ROWS; lane++) {
                for (int b = 0; b < blocks; b++) {
                    int src = lane * rowBytes + b * SOURCE_BLOCK_BYTES;
                    int dst = b * (GROUP_BLOCK_BYTES / 2) + lane;
                    out[b * (GROUP_BLOCK_BYTES / 2) + (SCALES_AT + scaleAt(lane)) / 2] =
                            (short) SHORTS.get(in, src);
                    long lo = (long) LONGS.get(in, src + 2);
                    long hi = (long) LONGS.get(in, src + 10);
                    int b0 = (int) lo;
                    int b1 = (int) (lo >>> 32);
                    int b2 = (int) hi;
                    int b3 = (int) (hi >>> 32);
                    out[dst] = packNibbles(b0);
                    out[dst + 32] = packNibbles(b1);
                    out[dst + 64] = packNibbles(b2);
                    out[dst + 96] = packNibbles(b3);
                    out[dst + 128] = packNibbles(b0 >>> 4);
                    out[dst + 160] = packNibbles(b1 >>> 4);
                    out[dst + 192] = packNibbles(b2 >>> 4);
                    out[dst + 224] = packNibbles(b3 >>> 4);
                }
            }
            MemorySegment.copy(out, 0, to, KernelVectors.SHORT_LE, groupBlock(g, 0), out.length);
        }
    }

    /** Little-endian views of a byte array, for repacking from a heap copy of the rows. */
    static final java.lang.invoke.VarHandle SHORTS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(short[].class, LE);
    static final java.lang.invoke.VarHandle LONGS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, LE);

    static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);

    @Override
    boolean shortSums() {
        return true;
    }

    @Override
    void blockSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count, int[] sums,
            short[] shortSums) {
        NibbleSums.of(data, at, n, xq, x0, xStride, count, shortSums, CHUNK_BLOCKS * ROWS, GROUP_BLOCK_BYTES,
                8 * GROUP_BLOCK_BYTES, 32);
    }

    @Override
    boolean pairsGroups() {
        return true;
    }

    /**
     * One vector against two groups, each activation broadcast serving both. The nibbles are taken unsigned,
     * {@code u = s ^ 8 = s + 8} for the stored 4-bit two's complement {@code s = q - 8}, with one mask or one shift
     * (where the signed form takes two shifts, on the one port that shifts and multiplies 512-bit vectors here), and
     * the block sum starts from {@code -8 * sum(x)}: {@code sum(u x) - 8 sum(x) = sum(s x)}. The 16-bit lanes wrap
     * while summing (the unsigned partial sums reach 32 * 15 * 127), but the sums are exact modulo 2^16 and the
     * result is the same block sum as {@link #blockSums}, which fits (see the class comment): the same integer.
     */
    @Override
    void pairSums(MemorySegment data, long at, long next, int n, byte[] xq, int x0, short[] xsums, int xsumsAt,
            int[] unused, short[] sums) {
        for (int k = 0; k < n; k++, at += GROUP_BLOCK_BYTES, next += GROUP_BLOCK_BYTES, x0 += 32) {
            ShortVector a = ShortVector.broadcast(S512, (short) (-8 * xsums[xsumsAt + k]));
            ShortVector b = a;
            for (int v = 0; v < 8; v++) {
                ShortVector p = ShortVector.fromMemorySegment(S512, data, at + 64L * v, LE)
                        .lanewise(VectorOperators.XOR, (short) 0x8888);
                ShortVector q = ShortVector.fromMemorySegment(S512, data, next + 64L * v, LE)
                        .lanewise(VectorOperators.XOR, (short) 0x8888);
                int x = x0 + 4 * v;
                ShortVector x1 = ShortVector.broadcast(S512, xq[x]);
                a = a.add(p.and((short) 15).mul(x1));
                b = b.add(q.and((short) 15).mul(x1));
                ShortVector x2 = ShortVector.broadcast(S512, xq[x + 1]);
                a = a.add(p.lanewise(VectorOperators.LSHR, 4).and((short) 15).mul(x2));
                b = b.add(q.lanewise(VectorOperators.LSHR, 4).and((short) 15).mul(x2));
                ShortVector x3 = ShortVector.broadcast(S512, xq[x + 2]);
                a = a.add(p.lanewise(VectorOperators.LSHR, 8).and((short) 15).mul(x3));
                b = b.add(q.lanewise(VectorOperators.LSHR, 8).and((short) 15).mul(x3));
                ShortVector x4 = ShortVector.broadcast(S512, xq[x + 3]);
                a = a.add(p.lanewise(VectorOperators.LSHR, 12).mul(x4));
                b = b.add(q.lanewise(VectorOperators.LSHR, 12).mul(x4));
            }
            a.intoArray(sums, 32 * k);
            b.intoArray(sums, (CHUNK_BLOCKS + k) * 32);
        }
    }
}
