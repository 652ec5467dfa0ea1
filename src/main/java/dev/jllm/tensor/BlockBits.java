package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorOperators;
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
        v.lanewise(VectorOperators.LSHR, 4).sub((byte) bias).intoArray(q, at + 16);
    }

    /** As {@link #nibbles16}, each nibble looked up in {@code table} (the IQ4 grid). */
    static void nibbles16(MemorySegment data, long offset, ByteVector table, byte[] q, int at) {
        ByteVector v = ByteVector.fromMemorySegment(B128, data, offset, ByteOrder.LITTLE_ENDIAN);
        v.and((byte) 0x0F).selectFrom(table).intoArray(q, at);
        v.lanewise(VectorOperators.LSHR, 4).selectFrom(table).intoArray(q, at + 16);
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

    /** ggml's {@code get_scale_min_k4}: scale (min) of 32-value group j of Q4_K / Q5_K from the 12 bytes at offset. */
    static void scaleMinK4(MemorySegment data, long offset, short[] scales, short[] mins, int slot) {
        for (int j = 0; j < 8; j++) {
            int sc;
            int m;
            if (j < 4) {
                sc = byteAt(data, offset + j) & 63;
                m = byteAt(data, offset + j + 4) & 63;
            } else {
                sc = (byteAt(data, offset + j + 4) & 0xF) | ((byteAt(data, offset + j - 4) >>> 6) << 4);
                m = (byteAt(data, offset + j + 4) >>> 4) | ((byteAt(data, offset + j) >>> 6) << 4);
            }
            scales[slot + 2 * j] = scales[slot + 2 * j + 1] = (short) sc;
            mins[slot + 2 * j] = mins[slot + 2 * j + 1] = (short) m;
        }
    }

    static int byteAt(MemorySegment data, long offset) {
        return data.get(ValueLayout.JAVA_BYTE, offset) & 0xFF;
    }
}
