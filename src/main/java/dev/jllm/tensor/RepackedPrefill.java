package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Large batches (prompt processing) over a {@link RepackedKernel}'s layout, where the work is compute-bound: per
 * group of 32 rows and chunk of blocks, the weights are decoded once into exact small-integer floats in a scratch
 * that stays in L1/L2, and tiles of {@link #TOKENS} tokens by 32 rows run over it with their block sums held in
 * registers (24 accumulators, each weight vector load shared by 12 tokens, each activation broadcast by 2 row
 * vectors), in float FMAs, which this machine runs on two ports where 16-bit multiplies run on one.
 *
 * <p>Same bits as the decode path, token by token (so a token's result never depends on its batch): the products of
 * a block are integers (|w| <= 128, |x| <= 128) whose partial sums stay below 32 * 128 * 128 = 2^19 < 2^24, so every
 * float FMA of a block sum is exact and the sum equals the integer one, {@code (float) isum}, in any order. The float
 * steps are then the decode path's, {@code acc = fma(sum, d_w * d_x, acc)} block after block, one lane per row.
 *
 * <p>Each method keeps its vector call sites few (C2 leaves vector operations out of line, boxed, in a method that
 * inlines too much): decoding, the register tile, and the float steps are separate methods.
 */
final class RepackedPrefill {

    /** Tokens per register tile: 12 tokens x 2 row vectors = 24 accumulators of the 32 vector registers. */
    static final int TOKENS = 12;
    /** From this batch on, {@link RepackedKernel#productRows} runs here. */
    static final int MIN_BATCH = 12;
    private static final int CHUNK = RepackedKernel.CHUNK_BLOCKS;
    private static final int ROWS = RepackedKernel.ROWS;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I512 = IntVector.SPECIES_512;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;

    private RepackedPrefill() {
    }

    private static final class Scratch {
        /** Decoded weights of a chunk: [block][value][32 rows]. */
        final float[] weights = new float[CHUNK * 32 * ROWS];
        /** Their scales: [block][32 rows]. */
        final float[] scales = new float[CHUNK * ROWS];
        /** Block sums of a chunk and a tile: [block][token][32 rows]. */
        final float[] sums = new float[CHUNK * TOKENS * ROWS];
        /** Activations as floats, tile by tile: [tile][column][token of the tile]. */
        float[] x = new float[0];
        /** Where {@link #touch}'s loads go, so that they are not optimized away. */
        long sink;
        /** Accumulators of a group: [token][32 rows]. */
        float[] acc = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** {@link RepackedKernel#productRows} for a batch of at least {@link #MIN_BATCH}, with its checks done. */
    static void productRows(RepackedKernel kernel, MemorySegment data, int rowStart, int rowEnd, int rows,
            PreparedActivations x, float[] out) {
        int cols = kernel.cols;
        int blocks = kernel.blocks;
        int batch = x.batch();
        int tiles = (batch + TOKENS - 1) / TOKENS;
        int padded = tiles * TOKENS;
        Scratch s = SCRATCH.get();
        long xLength = (long) padded * cols;
        if (xLength > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("batch " + batch + " of " + cols + " values is too large");
        }
        if (s.x.length < xLength) {
            s.x = new float[(int) xLength];
        }
        if (s.acc.length < padded * ROWS) {
            s.acc = new float[padded * ROWS];
        }
        float[] xf = s.x;
        tileActivations(x.quants(), batch, cols, xf);
        float[] xd = x.scales();
        float[] acc = s.acc;
        boolean q4 = kernel instanceof RepackedQ4_0;
        int lineCount = kernel.groupBlockBytes / 64;
        for (int r0 = rowStart; r0 < rowEnd; r0 += ROWS) {
            long group = r0 / ROWS;
            java.util.Arrays.fill(acc, 0, padded * ROWS, 0f);
            for (int c = 0; c < blocks; c += CHUNK) {
                int n = Math.min(CHUNK, blocks - c);
                long at = kernel.groupBlock(group, c);
                decodeChunk(data, at, n, kernel.groupBlockBytes, kernel.scalesAt, q4, s.weights, s.scales);
                long nextAt = c + CHUNK < blocks ? kernel.groupBlock(group, c + CHUNK)
                        : r0 + ROWS < rowEnd ? kernel.groupBlock(group + 1, 0) : 0;
                long nextLines = c + CHUNK < blocks ? (long) Math.min(CHUNK, blocks - c - CHUNK) * lineCount
                        : r0 + ROWS < rowEnd ? (long) Math.min(CHUNK, blocks) * lineCount : 0;
                for (int tile = 0; tile < tiles; tile++) {
                    s.sink += touch(data, nextAt, nextLines * tile / tiles, nextLines * (tile + 1) / tiles);
                    int xAt = (tile * cols + c * 32) * TOKENS;
                    for (int k = 0; k < n; k++) {
                        tileSums(s.weights, k * 32 * ROWS, xf, xAt + k * 32 * TOKENS, s.sums, k * TOKENS * ROWS);
                    }
                    int first = tile * TOKENS;
                    floatSteps(s.sums, s.scales, n, xd, first * blocks + c, blocks, Math.min(TOKENS, batch - first),
                            acc, first * ROWS);
                }
            }
            int valid = Math.min(ROWS, rowEnd - r0);
            for (int v = 0; v < batch; v++) {
                System.arraycopy(acc, v * ROWS, out, v * rows + r0, valid);
            }
        }
    }

    /**
     * Reads one long of each 64-byte line {@code [from, to)} of the next chunk at {@code at}, spread over the tiles
     * of the current one, so that its weights are in cache when it is decoded: a decode pass alone would wait for
     * memory line by line (the hardware prefetcher loses the stream during the tiles).
     */
    private static long touch(MemorySegment data, long at, long from, long to) {
        long sum = 0;
        for (long line = from; line < to; line++) {
            sum += data.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, at + 64 * line);
        }
        return sum;
    }

    /** The int8 activations as floats in {@code xf[(tile * cols + column) * TOKENS + token]}, zero past the batch. */
    static void tileActivations(byte[] xq, int batch, int cols, float[] xf) {
        int tiles = (batch + TOKENS - 1) / TOKENS;
        for (int tile = 0; tile < tiles; tile++) {
            int base = tile * cols * TOKENS;
            for (int t = 0; t < TOKENS; t++) {
                int v = tile * TOKENS + t;
                if (v >= batch) {
                    for (int i = 0; i < cols; i++) {
                        xf[base + i * TOKENS + t] = 0f;
                    }
                    continue;
                }
                int from = v * cols;
                for (int i = 0; i < cols; i++) {
                    xf[base + i * TOKENS + t] = xq[from + i];
                }
            }
        }
    }

    /**
     * Blocks {@code [0, n)} of the chunk at {@code at} decoded: the quants as exact floats to
     * {@code w[k * 1024 + value * 32 + row]} (Q4_0: the nibbles q - 8; Q8_0: the int8 quants), the fp16 scales to
     * {@code dw[k * 32 + row]} (see {@link RepackedKernel#scaleAt}).
     *
     * <p>Both types in one method on purpose: larger than C2 inlines into a caller (FreqInlineSize), it is compiled on
     * its own, so its vector operations never land in a caller whose node budget they would exceed (and be left out
     * of line, boxed).
     */
    static void decodeChunk(MemorySegment data, long at, int n, int groupBlockBytes, int scalesAt, boolean q4,
            float[] w, float[] dw) {
        for (int k = 0; k < n; k++, at += groupBlockBytes) {
            int o = k * 32 * ROWS;
            if (q4) {
                // in 16-row halves: a 256-bit vector of shorts widens to 512-bit floats in one conversion (C2 does
                // not intrinsify the wider one's parts)
                for (int half = 0; half < 64; half += 32, o += 16) {
                    for (int v = 0; v < 8; v++) {
                        ShortVector q = ShortVector.fromMemorySegment(S256, data, at + 64L * v + half,
                                RepackedKernel.LE);
                        int u = o + 4 * v * ROWS;
                        ((FloatVector) q.lanewise(VectorOperators.LSHL, 12).lanewise(VectorOperators.ASHR, 12)
                                .convertShape(VectorOperators.S2F, F, 0)).intoArray(w, u);
                        ((FloatVector) q.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 12)
                                .convertShape(VectorOperators.S2F, F, 0)).intoArray(w, u + ROWS);
                        ((FloatVector) q.lanewise(VectorOperators.LSHL, 4).lanewise(VectorOperators.ASHR, 12)
                                .convertShape(VectorOperators.S2F, F, 0)).intoArray(w, u + 2 * ROWS);
                        ((FloatVector) q.lanewise(VectorOperators.ASHR, 12)
                                .convertShape(VectorOperators.S2F, F, 0)).intoArray(w, u + 3 * ROWS);
                    }
                }
            } else {
                for (int i = 0; i < 32; i++, o += ROWS) {
                    ((FloatVector) ByteVector.fromMemorySegment(B128, data, at + 32L * i, RepackedKernel.LE)
                            .convertShape(VectorOperators.B2F, F, 0)).intoArray(w, o);
                    ((FloatVector) ByteVector.fromMemorySegment(B128, data, at + 32L * i + 16, RepackedKernel.LE)
                            .convertShape(VectorOperators.B2F, F, 0)).intoArray(w, o + 16);
                }
            }
            IntVector d = IntVector.fromMemorySegment(I512, data, at + scalesAt, RepackedKernel.LE);
            KernelVectors.halfToFloat(d.and(0xFFFF)).intoArray(dw, k * ROWS);
            KernelVectors.halfToFloat(d.lanewise(VectorOperators.LSHR, 16)).intoArray(dw, k * ROWS + 16);
        }
    }

    /**
     * The block sums of one block for a tile of 12 tokens and 32 rows: {@code sums[s0 + token * 32 + row]}, from the
     * decoded weights at {@code w[w0]} and the tile's activations at {@code xf[x0]} (12 per value).
     */
    static void tileSums(float[] w, int w0, float[] xf, int x0, float[] sums, int s0) {
        FloatVector z = FloatVector.zero(F);
        FloatVector a0 = z, a1 = z, b0 = z, b1 = z, c0 = z, c1 = z, d0 = z, d1 = z, e0 = z, e1 = z, f0 = z, f1 = z;
        FloatVector g0 = z, g1 = z, h0 = z, h1 = z, i0 = z, i1 = z, j0 = z, j1 = z, k0 = z, k1 = z, l0 = z, l1 = z;
        for (int i = 0; i < 32; i++) {
            FloatVector lo = FloatVector.fromArray(F, w, w0 + i * ROWS);
            FloatVector hi = FloatVector.fromArray(F, w, w0 + i * ROWS + 16);
            int x = x0 + i * TOKENS;
            FloatVector v = FloatVector.broadcast(F, xf[x]);
            a0 = lo.fma(v, a0);
            a1 = hi.fma(v, a1);
            v = FloatVector.broadcast(F, xf[x + 1]);
            b0 = lo.fma(v, b0);
            b1 = hi.fma(v, b1);
            v = FloatVector.broadcast(F, xf[x + 2]);
            c0 = lo.fma(v, c0);
            c1 = hi.fma(v, c1);
            v = FloatVector.broadcast(F, xf[x + 3]);
            d0 = lo.fma(v, d0);
            d1 = hi.fma(v, d1);
            v = FloatVector.broadcast(F, xf[x + 4]);
            e0 = lo.fma(v, e0);
            e1 = hi.fma(v, e1);
            v = FloatVector.broadcast(F, xf[x + 5]);
            f0 = lo.fma(v, f0);
            f1 = hi.fma(v, f1);
            v = FloatVector.broadcast(F, xf[x + 6]);
            g0 = lo.fma(v, g0);
            g1 = hi.fma(v, g1);
            v = FloatVector.broadcast(F, xf[x + 7]);
            h0 = lo.fma(v, h0);
            h1 = hi.fma(v, h1);
            v = FloatVector.broadcast(F, xf[x + 8]);
            i0 = lo.fma(v, i0);
            i1 = hi.fma(v, i1);
            v = FloatVector.broadcast(F, xf[x + 9]);
            j0 = lo.fma(v, j0);
            j1 = hi.fma(v, j1);
            v = FloatVector.broadcast(F, xf[x + 10]);
            k0 = lo.fma(v, k0);
            k1 = hi.fma(v, k1);
            v = FloatVector.broadcast(F, xf[x + 11]);
            l0 = lo.fma(v, l0);
            l1 = hi.fma(v, l1);
        }
        a0.intoArray(sums, s0);
        a1.intoArray(sums, s0 + 16);
        b0.intoArray(sums, s0 + 32);
        b1.intoArray(sums, s0 + 48);
        c0.intoArray(sums, s0 + 64);
        c1.intoArray(sums, s0 + 80);
        d0.intoArray(sums, s0 + 96);
        d1.intoArray(sums, s0 + 112);
        e0.intoArray(sums, s0 + 128);
        e1.intoArray(sums, s0 + 144);
        f0.intoArray(sums, s0 + 160);
        f1.intoArray(sums, s0 + 176);
        g0.intoArray(sums, s0 + 192);
        g1.intoArray(sums, s0 + 208);
        h0.intoArray(sums, s0 + 224);
        h1.intoArray(sums, s0 + 240);
        i0.intoArray(sums, s0 + 256);
        i1.intoArray(sums, s0 + 272);
        j0.intoArray(sums, s0 + 288);
        j1.intoArray(sums, s0 + 304);
        k0.intoArray(sums, s0 + 320);
        k1.intoArray(sums, s0 + 336);
        l0.intoArray(sums, s0 + 352);
        l1.intoArray(sums, s0 + 368);
    }

    /**
     * The float steps of {@code count} tokens of a tile over blocks {@code [0, n)} of a chunk:
     * {@code acc = fma(sum, d_w * d_x, acc)} per row lane, block after block, token t's sums of block k at
     * {@code sums[(k * TOKENS + t) * 32]}, the weight scales at {@code dw[k * 32]}, the token's scale at
     * {@code xd[xdAt + t * xdStride + k]}, its accumulators at {@code acc[accAt + t * 32]}. Three tokens at a time:
     * each token's steps form one dependent chain, and three chains keep the FMA ports busy.
     */
    static void floatSteps(float[] sums, float[] dw, int n, float[] xd, int xdAt, int xdStride, int count,
            float[] acc, int accAt) {
        int t = 0;
        for (; t + 3 <= count; t += 3) {
            steps3(sums, dw, n, xd, xdAt + t * xdStride, xdStride, acc, accAt + t * ROWS, t * ROWS);
        }
        for (; t < count; t++) {
            int at = accAt + t * ROWS;
            int xdt = xdAt + t * xdStride;
            FloatVector a0 = FloatVector.fromArray(F, acc, at);
            FloatVector a1 = FloatVector.fromArray(F, acc, at + 16);
            for (int k = 0; k < n; k++) {
                float dx = xd[xdt + k];
                int sAt = k * TOKENS * ROWS + t * ROWS;
                a0 = FloatVector.fromArray(F, sums, sAt).fma(FloatVector.fromArray(F, dw, k * ROWS).mul(dx), a0);
                a1 = FloatVector.fromArray(F, sums, sAt + 16)
                        .fma(FloatVector.fromArray(F, dw, k * ROWS + 16).mul(dx), a1);
            }
            a0.intoArray(acc, at);
            a1.intoArray(acc, at + 16);
        }
    }

    /** {@link #floatSteps} of three consecutive tokens, their sums from {@code sums[s0 + k * TOKENS * 32]} on. */
    private static void steps3(float[] sums, float[] dw, int n, float[] xd, int xdAt, int xdStride, float[] acc,
            int accAt, int s0) {
        FloatVector a0 = FloatVector.fromArray(F, acc, accAt);
        FloatVector a1 = FloatVector.fromArray(F, acc, accAt + 16);
        FloatVector b0 = FloatVector.fromArray(F, acc, accAt + 32);
        FloatVector b1 = FloatVector.fromArray(F, acc, accAt + 48);
        FloatVector c0 = FloatVector.fromArray(F, acc, accAt + 64);
        FloatVector c1 = FloatVector.fromArray(F, acc, accAt + 80);
        for (int k = 0; k < n; k++) {
            FloatVector w0 = FloatVector.fromArray(F, dw, k * ROWS);
            FloatVector w1 = FloatVector.fromArray(F, dw, k * ROWS + 16);
            int at = s0 + k * TOKENS * ROWS;
            float dx = xd[xdAt + k];
            a0 = FloatVector.fromArray(F, sums, at).fma(w0.mul(dx), a0);
            a1 = FloatVector.fromArray(F, sums, at + 16).fma(w1.mul(dx), a1);
            dx = xd[xdAt + xdStride + k];
            b0 = FloatVector.fromArray(F, sums, at + 32).fma(w0.mul(dx), b0);
            b1 = FloatVector.fromArray(F, sums, at + 48).fma(w1.mul(dx), b1);
            dx = xd[xdAt + 2 * xdStride + k];
            c0 = FloatVector.fromArray(F, sums, at + 64).fma(w0.mul(dx), c0);
            c1 = FloatVector.fromArray(F, sums, at + 80).fma(w1.mul(dx), c1);
        }
        a0.intoArray(acc, accAt);
        a1.intoArray(acc, accAt + 16);
        b0.intoArray(acc, accAt + 32);
        b1.intoArray(acc, accAt + 48);
        c0.intoArray(acc, accAt + 64);
        c1.intoArray(acc, accAt + 80);
    }
}
