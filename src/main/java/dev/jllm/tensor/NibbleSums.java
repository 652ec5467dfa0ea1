package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The exact block sums of nibble layouts in which short lane r of vector v holds values 4v .. 4v+3 of row r's
 * 32-value block as 4-bit two's complement numbers q - 8 (value 4v + j in bits 4j .. 4j+3): repacked Q4_0's blocks
 * and Q4_K's and Q5_K's sub-blocks. Sums in 16-bit lanes, exact: at most 32 * 8 * 127 = 32512 (see
 * {@link RepackedQ4_0}). One to four activation vectors at a time share each weight load and its unpacking.
 */
final class NibbleSums {

    private static final ByteOrder LE = RepackedKernel.LE;
    private static final VectorSpecies<Short> S512 = RepackedKernel.S512;

    private NibbleSums() {
    }

    /**
     * {@code sum (q - 8) x} for {@code blocks} 32-value blocks of nibbles from the chunk at {@code at} against
     * {@code count} (1 to 4) vectors whose quants start at {@code xq[x0]}, {@code xq[x0 + xStride]}, ...: block b at
     * {@code subBlock(at, b, subBytes, superBytes)}; vector j's sum of block b to {@code sums[j * stride + b * step ..]}.
     */
    static void of(MemorySegment data, long at, int blocks, byte[] xq, int x0, int xStride, int count,
            short[] sums, int stride, int subBytes, int superBytes, int step) {
        switch (count) {
            case 4 -> sums4(data, at, blocks, xq, x0, xStride, sums, stride, subBytes, superBytes, step);
            case 3 -> {
                sums2(data, at, blocks, xq, x0, x0 + xStride, sums, 0, stride, subBytes, superBytes, step);
                sums1(data, at, blocks, xq, x0 + 2 * xStride, sums, 2 * stride, subBytes, superBytes, step);
            }
            case 2 -> sums2(data, at, blocks, xq, x0, x0 + xStride, sums, 0, stride, subBytes, superBytes, step);
            default -> sums1(data, at, blocks, xq, x0, sums, 0, subBytes, superBytes, step);
        }
    }

    /**
     * Where block b of the chunk at {@code at} starts: eight blocks {@code subBytes} apart to a super-block, super-blocks
     * {@code superBytes} apart.
     */
    static long subBlock(long at, int b, int subBytes, int superBytes) {
        return at + (long) (b / 8) * superBytes + (long) subBytes * (b % 8);
    }

    private static void sums1(MemorySegment data, long at, int blocks, byte[] xq, int x0, short[] sums, int s0,
            int subBytes, int superBytes, int step) {
        for (int b = 0; b < blocks; b++, x0 += 32) {
            long q0 = subBlock(at, b, subBytes, superBytes);
            ShortVector a = ShortVector.zero(S512);
            ShortVector c = ShortVector.zero(S512);
            for (int v = 0; v < 8; v++) {
                ShortVector q = ShortVector.fromMemorySegment(S512, data, q0 + 64L * v, LE);
                int x = x0 + 4 * v;
                a = a.add(q.lanewise(VectorOperators.LSHL, 12).lanewise(VectorOperators.ASHR, 12).mul(xq[x]));
                c = c.add(q.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 12).mul(xq[x + 1]));
                a = a.add(q.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 12).mul(xq[x + 2]));
                c = c.add(q.lanewise(VectorOperators.ASHR, 12).mul(xq[x + 3]));
            }
            a.add(c).intoArray(sums, s0 + step * b);
        }
    }

    private static void sums2(MemorySegment data, long at, int blocks, byte[] xq, int x0, int x1, short[] sums, int s0,
            int stride, int subBytes, int superBytes, int step) {
        for (int b = 0; b < blocks; b++, x0 += 32, x1 += 32) {
            long q0 = subBlock(at, b, subBytes, superBytes);
            ShortVector a = ShortVector.zero(S512);
            ShortVector c = ShortVector.zero(S512);
            for (int v = 0; v < 8; v++) {
                ShortVector q = ShortVector.fromMemorySegment(S512, data, q0 + 64L * v, LE);
                int i = 4 * v;
                ShortVector n0 = q.lanewise(VectorOperators.LSHL, 12).lanewise(VectorOperators.ASHR, 12);
                ShortVector n1 = q.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 12);
                ShortVector n2 = q.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 12);
                ShortVector n3 = q.lanewise(VectorOperators.ASHR, 12);
                a = a.add(n0.mul(xq[x0 + i])).add(n1.mul(xq[x0 + i + 1]))
                        .add(n2.mul(xq[x0 + i + 2])).add(n3.mul(xq[x0 + i + 3]));
                c = c.add(n0.mul(xq[x1 + i])).add(n1.mul(xq[x1 + i + 1]))
                        .add(n2.mul(xq[x1 + i + 2])).add(n3.mul(xq[x1 + i + 3]));
            }
            a.intoArray(sums, s0 + step * b);
            c.intoArray(sums, s0 + stride + step * b);
        }
    }

    private static void sums4(MemorySegment data, long at, int blocks, byte[] xq, int x0, int xStride, short[] sums,
            int stride, int subBytes, int superBytes, int step) {
        int x1 = x0 + xStride;
        int x2 = x1 + xStride;
        int x3 = x2 + xStride;
        for (int b = 0; b < blocks; b++, x0 += 32, x1 += 32, x2 += 32, x3 += 32) {
            long q0 = subBlock(at, b, subBytes, superBytes);
            ShortVector a = ShortVector.zero(S512);
            ShortVector c = ShortVector.zero(S512);
            ShortVector e = ShortVector.zero(S512);
            ShortVector f = ShortVector.zero(S512);
            for (int v = 0; v < 8; v++) {
                ShortVector q = ShortVector.fromMemorySegment(S512, data, q0 + 64L * v, LE);
                int i = 4 * v;
                ShortVector n0 = q.lanewise(VectorOperators.LSHL, 12).lanewise(VectorOperators.ASHR, 12);
                a = a.add(n0.mul(xq[x0 + i]));
                c = c.add(n0.mul(xq[x1 + i]));
                e = e.add(n0.mul(xq[x2 + i]));
                f = f.add(n0.mul(xq[x3 + i]));
                ShortVector n1 = q.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 12);
                a = a.add(n1.mul(xq[x0 + i + 1]));
                c = c.add(n1.mul(xq[x1 + i + 1]));
                e = e.add(n1.mul(xq[x2 + i + 1]));
                f = f.add(n1.mul(xq[x3 + i + 1]));
                ShortVector n2 = q.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 12);
                a = a.add(n2.mul(xq[x0 + i + 2]));
                c = c.add(n2.mul(xq[x1 + i + 2]));
                e = e.add(n2.mul(xq[x2 + i + 2]));
                f = f.add(n2.mul(xq[x3 + i + 2]));
                ShortVector n3 = q.lanewise(VectorOperators.ASHR, 12);
                a = a.add(n3.mul(xq[x0 + i + 3]));
                c = c.add(n3.mul(xq[x1 + i + 3]));
                e = e.add(n3.mul(xq[x2 + i + 3]));
                f = f.add(n3.mul(xq[x3 + i + 3]));
            }
            a.intoArray(sums, step * b);
            c.intoArray(sums, stride + step * b);
            e.intoArray(sums, 2 * stride + step * b);
            f.intoArray(sums, 3 * stride + step * b);
        }
    }

}
