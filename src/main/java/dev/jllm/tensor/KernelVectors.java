package dev.jllm.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species and little-endian layouts the block kernels share, chosen once at start-up.
 *
 * <p>{@link #FLOATS} is the widest float shape the CPU prefers, capped at 512 bits (a ggml block of 32 values is
 * then one or two vectors); {@link #SHORTS} and {@link #INTS} have exactly as many lanes as {@link #FLOATS}.
 */
final class KernelVectors {

    private KernelVectors() {
    }

    static {
        // The Vector API's memory-segment loads refer to the heap segment classes; loading them here, before any
        // kernel is compiled, keeps C2 from throwing away its first compile of a kernel for "concurrent class
        // loading" (about a second of compile time lost on the first prompt otherwise).
        MemorySegment.ofArray(new byte[1]);
        MemorySegment.ofArray(new short[1]);
        MemorySegment.ofArray(new int[1]);
        MemorySegment.ofArray(new long[1]);
        MemorySegment.ofArray(new float[1]);
        MemorySegment.ofArray(new double[1]);
        MemorySegment.ofArray(new char[1]);
    }

    static final VectorSpecies<Float> FLOATS = chooseFloats();
    static final int FLOAT_LANES = FLOATS.length();
    static final VectorSpecies<Integer> INTS = VectorSpecies.of(int.class, FLOATS.vectorShape());
    static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(FLOATS.vectorBitSize() / 2));

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** 2^112: scales a half-precision exponent/mantissa placed in float position to the right magnitude. */
    private static final float HALF_EXPONENT_SCALE = 0x1p112f;

    private static VectorSpecies<Float> chooseFloats() {
        int bits = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        if (bits >= 512) {
            return FloatVector.SPECIES_512;
        }
        if (bits >= 256) {
            return FloatVector.SPECIES_256;
        }
        return FloatVector.SPECIES_128;
    }

    /** The IEEE half-precision value at {@code offset}. */
    static float f16(MemorySegment data, long offset) {
        return Float.float16ToFloat(data.get(SHORT_LE, offset));
    }

    /** {@link #FLOAT_LANES} little-endian 16-bit values at {@code offset}, sign-extended to ints. */
    static IntVector loadShorts(MemorySegment data, long offset) {
        return (IntVector) ShortVector.fromMemorySegment(SHORTS, data, offset, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.S2I, INTS, 0);
    }

    /**
     * Half-precision bit patterns (in the low 16 bits of each lane) to floats, exactly as
     * {@link Float#float16ToFloat}: the exponent and mantissa are moved to float position and scaled by 2^112,
     * which is exact for normal and subnormal halves alike. Infinities and NaNs (magnitude 0x7C00 and up) come out
     * of that with the float exponent 143 instead of 255, so they get 112 more, without a branch or a mask:
     * {@code (magnitude + 0x400) >>> 15} is 1 exactly for them.
     */
    static FloatVector halfToFloat(IntVector half) {
        IntVector magnitude = half.and(0x7FFF);
        IntVector sign = half.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        FloatVector scaled = magnitude.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(HALF_EXPONENT_SCALE);
        IntVector special = magnitude.add(0x400).lanewise(VectorOperators.LSHR, 15).neg().and(112 << 23);
        return scaled.reinterpretAsInts().add(special).or(sign).reinterpretAsFloats();
    }

    /** bfloat16 bit patterns (in the low 16 bits of each lane) to floats: the pattern is the top half of a float. */
    static FloatVector bf16ToFloat(IntVector bf16) {
        return bf16.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** The 4-lane float shape of the dot products' two halves of eight lane accumulators. */
    static final VectorSpecies<Float> FLOATS4 = FloatVector.SPECIES_128;

    /** ggml's {@code hsum_float_8} of eight accumulators: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)). */
    static float sumOfEight(float[] a) {
        return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    }

    static void checkBlocks(long first, int count, int blockSize) {
        if (first % blockSize != 0 || count % blockSize != 0 || count < 0) {
            throw new IllegalArgumentException("element range [" + first + ", +" + count
                    + ") is not made of whole blocks of " + blockSize);
        }
    }

    /**
     * The sum of a vector's lanes in a fixed order (pairwise halving). {@code reduceLanes(ADD)} on floats may add in
     * a different order in interpreted and compiled code, which would make the same computation give different bits
     * depending on when the JIT compiled it.
     */
    static float sum(FloatVector v) {
        int n = v.length();
        float[] lanes = new float[n];
        v.intoArray(lanes, 0);
        for (int width = n / 2; width >= 1; width /= 2) {
            for (int i = 0; i < width; i++) {
                lanes[i] += lanes[i + width];
            }
        }
        return lanes[0];
    }
}
