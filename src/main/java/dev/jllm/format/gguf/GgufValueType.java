package dev.jllm.format.gguf;

/**
 * The metadata value types of the GGUF specification, with their ids and how the reader represents them in Java.
 * Scalars: 8/16-bit integers and int32 as {@link Integer}, uint32 / int64 / uint64 as {@link Long} (uint64 as its
 * raw two's-complement bits), float32 as {@link Float}, float64 as {@link Double}, bool as {@link Boolean}, string as
 * {@link String}. Arrays: {@code int[]} (8/16-bit integers, int32), {@code long[]} (uint32, int64, uint64),
 * {@code float[]}, {@code double[]}, {@code boolean[]}, {@code String[]}, and an unmodifiable {@code List<Object>}
 * of such arrays for arrays of arrays.
 */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, 8),
    ARRAY(9, 12),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private static final GgufValueType[] BY_ID = values();

    /** The id written in the file. */
    public final int id;
    /** The fewest bytes a value of this type occupies (a string's or an array's header when empty). */
    final int minBytes;

    GgufValueType(int id, int minBytes) {
        this.id = id;
        this.minBytes = minBytes;
    }

    /** The type with this id, or null if the id is not in the specification. */
    public static GgufValueType byId(long id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
    }

    /** The lower-case name the specification uses, e.g. {@code uint32}. */
    public String specName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }
}
