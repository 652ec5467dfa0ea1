package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;

/**
 * How the bytes of one block type decode: the only code a block type has of its own. {@link BlockKernel} builds
 * every operation (dequantization, dot products, tiled products) on it.
 *
 * <p>A block of {@link GgmlType#blockSize()} values decodes to integers and two floats: one int8 quant {@code q} per
 * value, one integer {@code scale} per 16 values (for {@link #hasScales()} types; 1 otherwise), one integer
 * {@code min} per 16 values (for {@link Minimum#SCALED} types), and per block {@code d} and {@code dmin}. The value is
 * <ul>
 * <li>{@link Minimum#NONE}: {@code (d * scale) * q}</li>
 * <li>{@link Minimum#ADDED} (Q4_1, Q5_1): {@code d * q + m}, with m held in {@code dmin}</li>
 * <li>{@link Minimum#SCALED} (Q2_K, Q4_K, Q5_K): {@code (d * scale) * q - dmin * min}</li>
 * </ul>
 * each operation rounded to float, as gguf-py's reference dequantizer computes it. A scale of 32 values is written to
 * both of its 16-value slots. Types whose quants carry an offset (Q4_0's 8, Q6_K's 32, Q3_K's 4) or a non-linear grid
 * (IQ4) decode to the signed value itself, so that products with the activations are what the dot product sums.
 */
abstract class BlockDecoder {

    /** How a block's minimum enters its values. */
    enum Minimum {
        NONE, ADDED, SCALED
    }

    /** Values per scale and per minimum slot. */
    static final int SCALE_GROUP = 16;

    final GgmlType type;
    final int blockSize;
    final int blockBytes;
    final boolean hasScales;
    final Minimum minimum;

    BlockDecoder(GgmlType type, boolean hasScales, Minimum minimum) {
        this.type = type;
        this.blockSize = type.blockSize();
        this.blockBytes = type.blockBytes;
        this.hasScales = hasScales;
        this.minimum = minimum;
    }

    /**
     * Decodes blocks {@code [firstBlock, firstBlock + blocks)} of {@code data} into {@code out}, from its index 0:
     * quant i of the run at {@code out.q[i]}, scale and minimum slot g at {@code out.scales[g]} and {@code out.mins[g]},
     * block k's floats at {@code out.d[k]} and {@code out.dmin[k]} (only what the type has is written).
     */
    abstract void unpack(MemorySegment data, long firstBlock, int blocks, UnpackedBlocks out);

    /** ggml's table of the IQ4_NL and IQ4_XS quant values (kvalues_iq4nl). */
    static final byte[] IQ4_VALUES = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
}
