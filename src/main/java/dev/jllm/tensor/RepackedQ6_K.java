package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q6_K repacked 32 rows to a group ({@link RepackedKKernel}). A (group, super-block) is 8832 bytes, 1.314 times the
 * 32 rows' 6720 bytes in the file: for each value i of the super-block the 32 rows' signed quants q - 32 as bytes
 * (byte 32 i + r is row r's, as {@link RepackedQ8_0} has them), then the 16 x 32 int8 scales (one per 16 values),
 * then the 32 float d. Whole bytes cost a third more memory than the file's 6 bits, but a quant is one load and one
 * widening, where the file's split nibbles and 2-bit pairs take five vector operations more per value.
 *
 * <p>Exact integer sums: per 8 values {@code sum (q - 32) x} in 16-bit lanes, |q - 32| <= 32 and |x| <= 127 (see
 * {@link RepackedQ4_K}), so at most 8 * 32 * 127 = 32512 < 2^15; the two of a sub-block of 16 added in 32-bit lanes
 * (<= 65024), times the scale (|scale| <= 128), over the 16 sub-blocks: |T| <= 16 * 128 * 65024 = 133169152 < 2^31.
 */
final class RepackedQ6_K extends RepackedKKernel {

    static final int GROUP_SUPER_BYTES = 8832;
    private static final int SCALES_AT = 8192;
    private static final int D_AT = 8704;

    RepackedQ6_K(int cols) {
        super(GgmlType.Q6_K, cols, GROUP_SUPER_BYTES, SCALES_AT, -1, D_AT, -1, 16, 32);
    }

    @Override
    int quant(MemorySegment data, long at, int lane, int i) {
        return data.get(ValueLayout.JAVA_BYTE, at + 32L * i + lane);
    }

    /**
     * The file's 210 bytes (low nibbles, high 2-bit pairs, 16 int8 scales, fp16 d; see {@link Q6_KBlocks}) into the
     * layout: eight values at a time in a long, each byte's 6-bit q made q - 32 without borrows between bytes.
     */
    @Override
    void repackBlock(byte[] in, int from, byte[] out, int at, int lane) {
        for (int s = 0; s < 16; s++) {
            out[at + SCALES_AT + 32 * s + lane] = in[from + 192 + s];
        }
        FLOATS.set(out, at + D_AT + 4 * lane, half(in, from + 208));
        for (int n = 0; n < 2; n++) {
            for (int l = 0; l < 32; l += 8) {
                long low0 = (long) LONGS.get(in, from + 64 * n + l);
                long low1 = (long) LONGS.get(in, from + 64 * n + 32 + l);
                long high = (long) LONGS.get(in, from + 128 + 32 * n + l);
                int value = 128 * n + l;
                scatter(low0 & NIBBLES | (high & TWO_BITS) << 4, out, at + 32 * value + lane);
                scatter(low1 & NIBBLES | (high >>> 2 & TWO_BITS) << 4, out, at + 32 * (value + 32) + lane);
                scatter(low0 >>> 4 & NIBBLES | (high >>> 4 & TWO_BITS) << 4, out, at + 32 * (value + 64) + lane);
                scatter(low1 >>> 4 & NIBBLES | (high >>> 6 & TWO_BITS) << 4, out, at + 32 * (value + 96) + lane);
            }
        }
    }

    private static final long NIBBLES = 0x0F0F0F0F0F0F0F0FL;
    private static final long TWO_BITS = 0x0303030303030303L;
    private static final long TOP_BITS = 0x8080808080808080L;

    /** Eight 6-bit quants (a byte each) as q - 32 to bytes {@code at}, {@code at + 32}, ... (the next values). */
    private static void scatter(long q, byte[] out, int at) {
        // (q | 0x80) - 0x20 cannot borrow from the next byte; the xor then gives q - 32 in two's complement
        long v = ((q | TOP_BITS) - 0x2020202020202020L) ^ TOP_BITS;
        for (int i = 0; i < 8; i++) {
            out[at + 32 * i] = (byte) (v >>> (8 * i));
        }
    }

    @Override
    void partialSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count, short[] sums) {
        int stride = CHUNK_SUPERS * 32 * ROWS;
        switch (count) {
            case 4 -> sums4(data, at, n, xq, x0, xStride, sums);
            case 3 -> {
                sums2(data, at, n, xq, x0, x0 + xStride, sums, 0, stride);
                sums1(data, at, n, xq, x0 + 2 * xStride, sums, 2 * stride);
            }
            case 2 -> sums2(data, at, n, xq, x0, x0 + xStride, sums, 0, stride);
            default -> sums1(data, at, n, xq, x0, sums, 0);
        }
    }

    /** The 32 rows' quants of value 8h + i (h the 8-value part 0 .. 32n of the chunk at {@code at}) as shorts. */
    private static ShortVector weights(MemorySegment data, long at, int h, int i) {
        long q = at + (long) (h / 32) * GROUP_SUPER_BYTES + 32L * (8 * (h % 32) + i);
        return (ShortVector) ByteVector.fromMemorySegment(B256, data, q, LE).convertShape(VectorOperators.B2S, S512, 0);
    }

    private static void sums1(MemorySegment data, long at, int n, byte[] xq, int x0, short[] sums, int s0) {
        for (int h = 0; h < 32 * n; h++, x0 += 8) {
            ShortVector a = ShortVector.zero(S512);
            ShortVector c = ShortVector.zero(S512);
            for (int i = 0; i < 8; i += 2) {
                a = a.add(weights(data, at, h, i).mul(xq[x0 + i]));
                c = c.add(weights(data, at, h, i + 1).mul(xq[x0 + i + 1]));
            }
            a.add(c).intoArray(sums, s0 + 32 * h);
        }
    }

    private static void sums2(MemorySegment data, long at, int n, byte[] xq, int x0, int x1, short[] sums, int s0,
            int stride) {
        for (int h = 0; h < 32 * n; h++, x0 += 8, x1 += 8) {
            ShortVector a = ShortVector.zero(S512);
            ShortVector c = ShortVector.zero(S512);
            for (int i = 0; i < 8; i++) {
                ShortVector w = weights(data, at, h, i);
                a = a.add(w.mul(xq[x0 + i]));
                c = c.add(w.mul(xq[x1 + i]));
            }
            a.intoArray(sums, s0 + 32 * h);
            c.intoArray(sums, s0 + stride + 32 * h);
        }
    }

    private static void sums4(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, short[] sums) {
        int stride = CHUNK_SUPERS * 32 * ROWS;
        int x1 = x0 + xStride;
        int x2 = x1 + xStride;
        int x3 = x2 + xStride;
        for (int h = 0; h < 32 * n; h++, x0 += 8, x1 += 8, x2 += 8, x3 += 8) {
            ShortVector a = ShortVector.zero(S512);
            ShortVector c = ShortVector.zero(S512);
            ShortVector e = ShortVector.zero(S512);
            ShortVector f = ShortVector.zero(S512);
            for (int i = 0; i < 8; i++) {
                ShortVector w = weights(data, at, h, i);
                a = a.add(w.mul(xq[x0 + i]));
                c = c.add(w.mul(xq[x1 + i]));
                e = e.add(w.mul(xq[x2 + i]));
                f = f.add(w.mul(xq[x3 + i]));
            }
            a.intoArray(sums, 32 * h);
            c.intoArray(sums, stride + 32 * h);
            e.intoArray(sums, 2 * stride + 32 * h);
            f.intoArray(sums, 3 * stride + 32 * h);
        }
    }

    @Override
    void superSums(MemorySegment data, long at, int n, short[] sums, int sumsAt, int[] groupSums, int g0, int[] t,
            int[] m) {
        for (int k = 0; k < n; k++) {
            long sb = at + (long) k * GROUP_SUPER_BYTES;
            IntVector t0 = IntVector.zero(I512);
            IntVector t1 = IntVector.zero(I512);
            for (int s = 0; s < 16; s++) {
                ShortVector p = ShortVector.fromArray(S512, sums, sumsAt + 32 * (32 * k + 2 * s));
                ShortVector q = ShortVector.fromArray(S512, sums, sumsAt + 32 * (32 * k + 2 * s + 1));
                IntVector i0 = ((IntVector) p.convertShape(VectorOperators.S2I, I512, 0))
                        .add((IntVector) q.convertShape(VectorOperators.S2I, I512, 0));
                IntVector i1 = ((IntVector) p.convertShape(VectorOperators.S2I, I512, 1))
                        .add((IntVector) q.convertShape(VectorOperators.S2I, I512, 1));
                t0 = t0.add(i0.mul(RepackedQ4_K.bytesToInts(data, sb + SCALES_AT + 32L * s)));
                t1 = t1.add(i1.mul(RepackedQ4_K.bytesToInts(data, sb + SCALES_AT + 32L * s + 16)));
            }
            t0.intoArray(t, 32 * k);
            t1.intoArray(t, 32 * k + 16);
        }
    }
}
