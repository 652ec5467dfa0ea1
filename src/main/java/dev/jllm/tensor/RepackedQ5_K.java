package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q5_K repacked 32 rows to a group ({@link RepackedKKernel}). A (group, super-block) is 5888 bytes, 1.045 times the
 * 32 rows' 5632 bytes in the file: per sub-block s (32 values) at {@code 640 s} the low four bits as Q4_K's
 * ({@link RepackedQ4_K}: eight vectors of 32 shorts, four signed nibbles q_low - 8 each), then two vectors of 32
 * shorts holding the fifth bits, short lane r of vector h the bits of values 16h .. 16h+15 of row r's sub-block,
 * value 16h + i in bit 15 - i (so that an arithmetic shift right by 15 reads the top one as 0 or -1 and a shift left
 * by 1 brings the next); then the scale and minimum bytes and the d and dmin floats, as Q4_K's.
 *
 * <p>Exact integer sums: per sub-block, {@code A = sum (q_low - 8) x} (|A| <= 32 * 8 * 127 = 32512 < 2^15) and
 * {@code B = sum -bit x} (|B| <= 32 * 127) in 16-bit lanes; then in 32-bit lanes
 * {@code sum q x = A + 8 sum x - 16 B} (|.| <= 32 * 31 * 127 = 125984), times the scale (<= 63), over the 8
 * sub-blocks: |T| <= 8 * 63 * 125984 = 63495936 < 2^31; M as Q4_K's.
 */
final class RepackedQ5_K extends RepackedKKernel {

    static final int GROUP_SUPER_BYTES = 5888;
    private static final int SUB_BLOCK_BYTES = 640;
    private static final int SCALES_AT = 5120;
    private static final int MINS_AT = 5376;
    private static final int D_AT = 5632;
    private static final int DMIN_AT = 5760;

    RepackedQ5_K(int cols) {
        super(GgmlType.Q5_K, cols, GROUP_SUPER_BYTES, SCALES_AT, MINS_AT, D_AT, DMIN_AT, 8, 16);
    }

    @Override
    int quant(MemorySegment data, long at, int lane, int i) {
        long sub = at + (long) SUB_BLOCK_BYTES * (i / 32);
        short low = data.get(KernelVectors.SHORT_LE, sub + 64L * (i % 32 / 4) + 2L * lane);
        short high = data.get(KernelVectors.SHORT_LE, sub + 512 + 64L * (i % 32 / 16) + 2L * lane);
        return ((short) (low << (12 - 4 * (i % 4))) >> 12) + 8 + 16 * ((high >>> (15 - i % 16)) & 1);
    }

    /**
     * The file's 176 bytes (fp16 d, fp16 dmin, 12 bytes of scales and minimums, 32 bytes of fifth bits, 128 bytes of
     * nibbles; see {@link Q5_KBlocks}) into the layout.
     */
    @Override
    void repackBlock(byte[] in, int from, byte[] out, int at, int lane) {
        RepackedQ4_K.scalesAndFloats(in, from, out, at, lane, SCALES_AT, MINS_AT, D_AT, DMIN_AT);
        for (int c = 0; c < 4; c++) {
            for (int v = 0; v < 8; v++) {
                int b = (int) INTS.get(in, from + 48 + 32 * c + 4 * v);
                int dst = at + 64 * v + 2 * lane;
                SHORTS.set(out, dst + SUB_BLOCK_BYTES * (2 * c), RepackedQ4_K.packNibbles(b & 0x0F0F0F0F));
                SHORTS.set(out, dst + SUB_BLOCK_BYTES * (2 * c + 1),
                        RepackedQ4_K.packNibbles((b >>> 4) & 0x0F0F0F0F));
            }
            for (int e = 0; e < 2; e++) {
                for (int h = 0; h < 2; h++) {
                    int bits = 0;
                    for (int i = 0; i < 16; i++) {
                        bits |= (in[from + 16 + 16 * h + i] >>> (2 * c + e) & 1) << (15 - i);
                    }
                    SHORTS.set(out, at + SUB_BLOCK_BYTES * (2 * c + e) + 512 + 64 * h + 2 * lane, (short) bits);
                }
            }
        }
    }

    @Override
    void partialSums(MemorySegment data, long at, int n, byte[] xq, int x0, int xStride, int count, short[] sums) {
        int stride = CHUNK_SUPERS * 16 * ROWS;
        NibbleSums.of(data, at, 8 * n, xq, x0, xStride, count, sums, stride, SUB_BLOCK_BYTES, GROUP_SUPER_BYTES,
                64);
        for (int j = 0; j < count; j += 2) {
            int xj = x0 + j * xStride;
            for (int b = 0; b < 8 * n; b++) {
                long bits = NibbleSums.subBlock(at, b, SUB_BLOCK_BYTES, GROUP_SUPER_BYTES) + 512;
                if (j + 1 < count) {
                    highSums2(data, bits, xq, xj + 32 * b, xj + xStride + 32 * b, sums, j * stride + 64 * b + 32,
                            stride);
                } else {
                    highSums1(data, bits, xq, xj + 32 * b, sums, j * stride + 64 * b + 32);
                }
            }
        }
    }

    /** {@code B = sum -bit x} over one sub-block's fifth bits at {@code at}, into {@code sums[s]}. */
    private static void highSums1(MemorySegment data, long at, byte[] xq, int x0, short[] sums, int s) {
        ShortVector b = ShortVector.zero(S512);
        for (int h = 0; h < 2; h++) {
            ShortVector bits = ShortVector.fromMemorySegment(S512, data, at + 64L * h, LE);
            for (int i = 0; i < 16; i++) {
                b = b.add(bits.lanewise(VectorOperators.ASHR, 15).mul(xq[x0 + 16 * h + i]));
                bits = bits.lanewise(VectorOperators.LSHL, 1);
            }
        }
        b.intoArray(sums, s);
    }

    /** As {@link #highSums1} for two vectors, sharing each load and shift. */
    private static void highSums2(MemorySegment data, long at, byte[] xq, int x0, int x1, short[] sums, int s,
            int stride) {
        ShortVector b0 = ShortVector.zero(S512);
        ShortVector b1 = ShortVector.zero(S512);
        for (int h = 0; h < 2; h++) {
            ShortVector bits = ShortVector.fromMemorySegment(S512, data, at + 64L * h, LE);
            for (int i = 0; i < 16; i++) {
                ShortVector bit = bits.lanewise(VectorOperators.ASHR, 15);
                b0 = b0.add(bit.mul(xq[x0 + 16 * h + i]));
                b1 = b1.add(bit.mul(xq[x1 + 16 * h + i]));
                bits = bits.lanewise(VectorOperators.LSHL, 1);
            }
        }
        b0.intoArray(sums, s);
        b1.intoArray(sums, s + stride);
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
                ShortVector low = ShortVector.fromArray(S512, sums, sumsAt + 64 * (8 * k + s));
                ShortVector high = ShortVector.fromArray(S512, sums, sumsAt + 64 * (8 * k + s) + 32);
                int sx = groupSums[g0 + 2 * s] + groupSums[g0 + 2 * s + 1];
                IntVector h0 = (IntVector) high.convertShape(VectorOperators.S2I, I512, 0);
                IntVector h1 = (IntVector) high.convertShape(VectorOperators.S2I, I512, 1);
                IntVector i0 = ((IntVector) low.convertShape(VectorOperators.S2I, I512, 0)).add(8 * sx)
                        .sub(h0.lanewise(VectorOperators.LSHL, 4));
                IntVector i1 = ((IntVector) low.convertShape(VectorOperators.S2I, I512, 1)).add(8 * sx)
                        .sub(h1.lanewise(VectorOperators.LSHL, 4));
                t0 = t0.add(i0.mul(RepackedQ4_K.bytesToInts(data, sb + SCALES_AT + 32L * s)));
                t1 = t1.add(i1.mul(RepackedQ4_K.bytesToInts(data, sb + SCALES_AT + 32L * s + 16)));
                m0 = m0.add(RepackedQ4_K.bytesToInts(data, sb + MINS_AT + 32L * s).mul(sx));
                m1 = m1.add(RepackedQ4_K.bytesToInts(data, sb + MINS_AT + 32L * s + 16).mul(sx));
            }
            t0.intoArray(t, 32 * k);
            t1.intoArray(t, 32 * k + 16);
            m0.intoArray(m, 32 * k);
            m1.intoArray(m, 32 * k + 16);
        }
    }
}
