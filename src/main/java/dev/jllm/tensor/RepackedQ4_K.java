package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_K repacked 32 rows to a group ({@link RepackedKKernel}). A (group, super-block) is 4864 bytes, 1.056 times the
 * 32 rows' 4608 bytes in the file: per sub-block s (32 values) eight 64-byte vectors of 32 shorts at {@code 512 s},
 * short lane r of vector v holding values 4v .. 4v+3 of row r's sub-block as 4-bit two's complement numbers q - 8
 * (value 4v + j in bits 4j .. 4j+3, as {@link RepackedQ4_0} has them); then the 8 x 32 scale bytes, the 8 x 32
 * minimum bytes (6-bit, unpacked from the file's 12 bytes), the 32 float d and the 32 float dmin.
 *
 * <p>Exact integer sums: per sub-block, {@code sum (q - 8) x} in 16-bit lanes, |q - 8| <= 8 and |x| <= 127 (Q8_K
 * rounds {@code -127 / max * x} for |x| <= |max| and caps at 127), so at most 32 * 8 * 127 = 32512 < 2^15 (and
 * two's complement sums are exact whenever the final one fits, whatever the partial ones do). Then in 32-bit lanes
 * {@code sum q x = sum (q - 8) x + 8 sum x} (|.| <= 32 * 15 * 127 = 60960), times the scale (<= 63), over the 8
 * sub-blocks: |T| <= 8 * 63 * 60960 = 30723840 < 2^31; and |M| = |sum min * sum x| <= 8 * 63 * 32 * 127 = 2048256.
 */
final class RepackedQ4_K extends RepackedKKernel {

    static final int GROUP_SUPER_BYTES = 4864;
    private static final int SCALES_AT = 4096;
    private static final int MINS_AT = 4352;
    private static final int D_AT = 4608;
    private static final int DMIN_AT = 4736;

    RepackedQ4_K(int cols) {
        super(GgmlType.Q4_K, cols, GROUP_SUPER_BYTES, SCALES_AT, MINS_AT, D_AT, DMIN_AT, 8, 8);
    }

    @Override
    int quant(MemorySegment data, long at, int lane, int i) {
        int v = i % 32 / 4;
        short s = data.get(KernelVectors.SHORT_LE, at + 512L * (i / 32) + 64L * v + 2L * lane);
        return ((short) (s << (12 - 4 * (i % 4))) >> 12) + 8;
    }

    /**
     * The file's 144 bytes (fp16 d, fp16 dmin, 12 bytes of 6-bit scales and minimums, 128 bytes of nibbles: byte l of
     * run c holds value 64c + l low and 64c + 32 + l high) into the layout: four nibbles at a time from an int,
     * flipped to q - 8 by {@code ^ 8}.
     */
    @Override
    void repackBlock(byte[] in, int from, byte[] out, int at, int lane) {
        scalesAndFloats(in, from, out, at, lane, SCALES_AT, MINS_AT, D_AT, DMIN_AT);
        for (int c = 0; c < 4; c++) {
            for (int v = 0; v < 8; v++) {
                int b = (int) INTS.get(in, from + 16 + 32 * c + 4 * v);
                int dst = at + 64 * v + 2 * lane;
                SHORTS.set(out, dst + 512 * (2 * c), packNibbles(b & 0x0F0F0F0F));
                SHORTS.set(out, dst + 512 * (2 * c + 1), packNibbles((b >>> 4) & 0x0F0F0F0F));
            }
        }
    }

    /**
     * A Q4_K or Q5_K block's fp16 d and dmin (bytes 0..3) and 6-bit scales and minimums (the 12 bytes after them, as
     * ggml's {@code get_scale_min_k4} reads them) to row lane {@code lane}'s bytes and floats of the layout.
     */
    static void scalesAndFloats(byte[] in, int from, byte[] out, int at, int lane, int scalesAt, int minsAt, int dAt,
            int dminAt) {
        for (int j = 0; j < 8; j++) {
            int scale;
            int min;
            if (j < 4) {
                scale = in[from + 4 + j] & 63;
                min = in[from + 8 + j] & 63;
            } else {
                scale = (in[from + 8 + j] & 0xF) | ((in[from + j] & 0xFF) >>> 6) << 4;
                min = (in[from + 8 + j] & 0xFF) >>> 4 | ((in[from + 4 + j] & 0xFF) >>> 6) << 4;
            }
            out[at + scalesAt + 32 * j + lane] = (byte) scale;
            out[at + minsAt + 32 * j + lane] = (byte) min;
        }
        FLOATS.set(out, at + dAt + 4 * lane, half(in, from));
        FLOATS.set(out, at + dminAt + 4 * lane, half(in, from + 2));
    }

    /** Four quants 0..15, one a byte, as one short of four signed nibbles q - 8 (the first in the low bits). */
    static short packNibbles(int quants) {
        int x = quants ^ 0x08080808;
        int y = x | (x >>> 4);
        return (short) ((y & 0xFF) | ((y >>> 8) & 0xFF00));
    }

    @Override
    void partialSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count, short[] sums) {
        NibbleSums.of(data, at, 8 * n, xq, x0, xStride, count, sums, CHUNK_SUPERS * 8 * ROWS, 512, GROUP_SUPER_BYTES,
                32);
    }

    @Override
    void superSums(MemorySegment data, long at, int n, short[] sums, int sumsAt, int[] groupSums, int g0, int[] t,
            int[] m) {
        for (int k = 0; k < n; k++, g0 += 16) {
            long sb = at + (long) k * GROUP_SUPER_BYTES;
            IntVector t0 = IntVector.zero(I512);
            IntVector t1 = IntVector.zero(I512);
            IntVector m0 = IntVector.zero(I512);
            IntVector m1 = IntVector.zero(I512);
            for (int s = 0; s < 8; s++) {
                ShortVector p = ShortVector.fromArray(S512, sums, sumsAt + 32 * (8 * k + s));
                int sx = groupSums[g0 + 2 * s] + groupSums[g0 + 2 * s + 1];
                IntVector sc0 = bytesToInts(data, sb + SCALES_AT + 32L * s);
                IntVector sc1 = bytesToInts(data, sb + SCALES_AT + 32L * s + 16);
                IntVector mn0 = bytesToInts(data, sb + MINS_AT + 32L * s);
                IntVector mn1 = bytesToInts(data, sb + MINS_AT + 32L * s + 16);
                IntVector i0 = ((IntVector) p.convertShape(VectorOperators.S2I, I512, 0)).add(8 * sx);
                IntVector i1 = ((IntVector) p.convertShape(VectorOperators.S2I, I512, 1)).add(8 * sx);
                t0 = t0.add(i0.mul(sc0));
                t1 = t1.add(i1.mul(sc1));
                m0 = m0.add(mn0.mul(sx));
                m1 = m1.add(mn1.mul(sx));
            }
            t0.intoArray(t, 32 * k);
            t1.intoArray(t, 32 * k + 16);
            m0.intoArray(m, 32 * k);
            m1.intoArray(m, 32 * k + 16);
        }
    }

    /** Sixteen signed bytes at {@code at} as ints. */
    static IntVector bytesToInts(MemorySegment data, long at) {
        return (IntVector) ByteVector.fromMemorySegment(B128, data, at, LE).convertShape(VectorOperators.B2I, I512, 0);
    }
}
