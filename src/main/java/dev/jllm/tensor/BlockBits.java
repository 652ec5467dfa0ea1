package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** Bit-unpacking helpers the {@link BlockDecoder}s share. */
final class BlockBits {

    private BlockBits() {
    }

    static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
    static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    static final long LOW_NIBBLES = 0x0F0F0F0F0F0F0F0FL;
    private static final long HIGH_BITS = 0x8080808080808080L;

    /** {@code SPREAD[b]}: byte k is 16 when bit k of b is set, else 0 (the fifth bits of eight Q5 values). */
    static final long[] FIFTH_BITS = new long[256];

    static {
        for (int b = 0; b < 256; b++) {
            long spread = 0;
            for (int k = 0; k < 8; k++) {
                spread |= (long) ((b >>> k) & 1) << (8 * k + 4);
            }
            FIFTH_BITS[b] = spread;
        }
    }

    /**
     * The 16 bytes shifted right by {@code n} (logically), as 16-bit lanes with a mask: x86 has no byte shifts, and the
     * Vector API's byte-lane shifts widen every byte to 16 bits and back. (For 16-byte vectors only: a helper that
     * saw two vector shapes would leave its operations out of line.)
     */
    static ByteVector shiftRight16(ByteVector v, int n) {
        return v.reinterpretAsShorts().lanewise(VectorOperators.LSHR, n).reinterpretAsBytes().and((byte) (0xFF >>> n));
    }

    /** The 16 bytes shifted left by {@code n}, each below 2^(8 - n) (so no bit crosses into the next byte). */
    static ByteVector shiftLeftSmall16(ByteVector v, int n) {
        return v.reinterpretAsShorts().lanewise(VectorOperators.LSHL, n).reinterpretAsBytes();
    }

    /** Subtracts {@code bias} (below 128) from each of eight bytes that are all below 128, without borrows between them. */
    static long subtractBytes(long bytes, long bias) {
        return ((bytes | HIGH_BITS) - bias) ^ HIGH_BITS;
    }

    /** The IEEE half-precision value at {@code offset}. */
    static float f16(MemorySegment data, long offset) {
        return KernelVectors.f16(data, offset);
    }

    /**
     * 16 bytes at {@code offset}: their low nibbles into {@code q[at ..]}, their high nibbles into {@code q[at + 16 ..]},
     * each minus {@code bias} (Q4_0, Q4_1).
     */
    static void nibbles16(MemorySegment data, long offset, int bias, byte[] q, int at) {
        ByteVector v = ByteVector.fromMemorySegment(B128, data, offset, ByteOrder.LITTLE_ENDIAN);
        v.and((byte) 0x0F).sub((byte) bias).intoArray(q, at);
        shiftRight16(v, 4).sub((byte) bias).intoArray(q, at + 16);
    }

    /** As {@link #nibbles16}, each nibble looked up in {@code table} (the IQ4 grid). */
    static void nibbles16(MemorySegment data, long offset, ByteVector table, byte[] q, int at) {
        ByteVector v = ByteVector.fromMemorySegment(B128, data, offset, ByteOrder.LITTLE_ENDIAN);
        v.and((byte) 0x0F).selectFrom(table).intoArray(q, at);
        shiftRight16(v, 4).selectFrom(table).intoArray(q, at + 16);
    }

    /**
     * 32 five-bit values of a Q5_0 / Q5_1 block: the 16 bytes of nibbles at {@code offset} (element j in the low nibble
     * of byte j, element j + 16 in its high nibble) and the fifth bits in {@code qh} (bit j for element j), minus
     * {@code bias}, into {@code q[at .. at + 32)}.
     */
    static void fiveBits32(MemorySegment data, long offset, int qh, long bias, byte[] q, int at) {
        for (int k = 0; k < 16; k += 8) {
            long bytes = data.get(LONG_LE, offset + k);
            long low = (bytes & LOW_NIBBLES) | FIFTH_BITS[(qh >>> k) & 0xFF];
            long high = ((bytes >>> 4) & LOW_NIBBLES) | FIFTH_BITS[(qh >>> (16 + k)) & 0xFF];
            LONGS.set(q, at + k, subtractBytes(low, bias));
            LONGS.set(q, at + 16 + k, subtractBytes(high, bias));
        }
    }

    /** Lanes 0-3 and 8-11 of sixteen: the scales and minimums of groups 0-3 (low 6 bits of one byte each). */
    private static final VectorMask<Byte> HIGH_GROUPS = VectorMask.fromLong(B128, 0xF0F0L);
    private static final VectorMask<Byte> MINIMUMS = VectorMask.fromLong(B128, 0xFF00L);
    /** From the 12 scale bytes: lanes 0-7 the byte holding scale j's low bits, lanes 8-15 minimum j's. */
    private static final VectorShuffle<Byte> LOW_BITS =
            VectorShuffle.fromArray(B128, new int[] {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11}, 0);
    /** For groups 4-7: the byte holding the two high bits (its top two bits) of scale j (lanes 4-7), minimum j (12-15). */
    private static final VectorShuffle<Byte> TOP_BITS =
            VectorShuffle.fromArray(B128, new int[] {0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7}, 0);
    /** Scale j, then minimum j, each to two lanes (one per 16 values of the 32 it covers). */
    private static final VectorShuffle<Byte> SCALES_TWICE =
            VectorShuffle.fromArray(B128, new int[] {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}, 0);
    private static final VectorShuffle<Byte> MINIMUMS_TWICE =
            VectorShuffle.fromArray(B128, new int[] {8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15}, 0);
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;

    /**
     * ggml's {@code get_scale_min_k4} for all eight groups of a Q4_K / Q5_K block: the 12 bytes at {@code offset} hold
     * scale j and minimum j (6 bits each) in the low 6 bits of bytes j and j + 4 for j < 4, and for j >= 4 in the
     * nibbles of byte j + 4 with their top two bits in the top bits of bytes j - 4 and j. Written to the 16-value slots
     * {@code slot ..} (each value twice). Reads 16 bytes (the block goes on after its scales).
     */
    static void scaleMinK4(MemorySegment data, long offset, short[] scales, short[] mins, int slot) {
        ByteVector v = ByteVector.fromMemorySegment(B128, data, offset, ByteOrder.LITTLE_ENDIAN);
        ByteVector low = v.rearrange(LOW_BITS);
        ByteVector high = shiftLeftSmall16(shiftRight16(v.rearrange(TOP_BITS), 6), 4);
        ByteVector nibble = low.and((byte) 0x0F).blend(shiftRight16(low, 4), MINIMUMS);
        ByteVector both = low.and((byte) 63).blend(nibble.or(high), HIGH_GROUPS);
        ((ShortVector) both.rearrange(SCALES_TWICE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0))
                .intoArray(scales, slot);
        ((ShortVector) both.rearrange(MINIMUMS_TWICE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0))
                .intoArray(mins, slot);
    }

    /** Sixteen signed bytes at {@code offset} as shorts into {@code out[at ..]} (Q6_K's scales). */
    static void signedBytes16(MemorySegment data, long offset, short[] out, int at) {
        ((ShortVector) ByteVector.fromMemorySegment(B128, data, offset, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2S, S256, 0)).intoArray(out, at);
    }

    /** Q2_K's sixteen scale bytes at {@code offset}: low nibbles to {@code scales[at ..]}, high nibbles to {@code mins}. */
    static void nibblePairs16(MemorySegment data, long offset, short[] scales, short[] mins, int at) {
        ByteVector v = ByteVector.fromMemorySegment(B128, data, offset, ByteOrder.LITTLE_ENDIAN);
        ((ShortVector) v.and((byte) 0x0F).convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0)).intoArray(scales, at);
        ((ShortVector) shiftRight16(v, 4).convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0))
                .intoArray(mins, at);
    }

    /**
     * For Q3_K's scales, read from two bytes before them (so as not to pass the block's end): lanes 0-7 scale bytes
     * 0-7 (low nibbles), 8-15 bytes 0-7 again (high nibbles).
     */
    private static final VectorShuffle<Byte> Q3_LOW = VectorShuffle.fromOp(B128, i -> 2 + i % 8);
    /** Lane g: scale byte 8 + g % 4, holding the two high bits of scale g at bit 2 (g / 4). */
    private static final VectorShuffle<Byte> Q3_HIGH = VectorShuffle.fromOp(B128, i -> 2 + 8 + i % 4);
    /** Lanes 4-7, 8-11, 12-15: the scales whose high bits are at bit 2, 4, 6. */
    private static final VectorMask<Byte> Q3_BITS_2 = VectorMask.fromLong(B128, 0x00F0L);
    private static final VectorMask<Byte> Q3_BITS_4 = VectorMask.fromLong(B128, 0x0F00L);
    private static final VectorMask<Byte> Q3_BITS_6 = VectorMask.fromLong(B128, 0xF000L);
    private static final VectorMask<Byte> UPPER_EIGHT = VectorMask.fromLong(B128, 0xFF00L);

    /**
     * Q3_K's sixteen 6-bit scales (stored plus 32) from the 12 bytes at {@code offset}: low 4 bits of scale g in
     * nibble g / 8 of byte g % 8, high 2 bits at bit 2 (g / 4) of byte 8 + g % 4. Minus 32, to {@code out[at ..]}.
     * Reads the 16 bytes from two before the scales to the end of the block (d follows them).
     */
    static void q3Scales(MemorySegment data, long offset, short[] out, int at) {
        ByteVector v = ByteVector.fromMemorySegment(B128, data, offset - 2, ByteOrder.LITTLE_ENDIAN);
        ByteVector low = v.rearrange(Q3_LOW);
        low = low.and((byte) 0x0F).blend(shiftRight16(low, 4), UPPER_EIGHT);
        ByteVector h = v.rearrange(Q3_HIGH);
        ByteVector high = h.blend(shiftRight16(h, 2), Q3_BITS_2).blend(shiftRight16(h, 4), Q3_BITS_4)
                .blend(shiftRight16(h, 6), Q3_BITS_6).and((byte) 3);
        ((ShortVector) low.or(shiftLeftSmall16(high, 4)).sub((byte) 32)
                .convertShape(VectorOperators.B2S, S256, 0)).intoArray(out, at);
    }

    static int byteAt(MemorySegment data, long offset) {
        return data.get(ValueLayout.JAVA_BYTE, offset) & 0xFF;
    }
}
