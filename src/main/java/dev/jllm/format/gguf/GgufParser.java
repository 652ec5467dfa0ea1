package dev.jllm.format.gguf;

import dev.jllm.format.ModelFormatException;
import dev.jllm.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the header of a memory-mapped GGUF file (v2 or v3, little-endian): magic, version, counts, metadata, tensor
 * infos; then checks every tensor against the data section. Every read is bounds-checked against the file size first,
 * so a damaged file always ends in a one-line {@link ModelFormatException}.
 */
final class GgufParser {

    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_DIMS = 4;
    /** Deeper nesting than this is not a real file (and would overflow the stack). */
    private static final int MAX_ARRAY_DEPTH = 16;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String file;
    private final MemorySegment data;
    private final long size;
    private long pos;
    /** What is being read, for error messages ("metadata key 3", "tensor info 5 ('x')"). */
    private String reading = "the header";
    private byte[] scratch = new byte[256];

    private GgufParser(String file, MemorySegment data) {
        this.file = file;
        this.data = data;
        this.size = data.byteSize();
    }

    /** Parses {@code data} (the whole mapped file); {@code arena} owns the mapping and goes into the result. */
    static GgufFile parse(Path path, MemorySegment data, Arena arena) {
        GgufParser parser = new GgufParser(path.toString(), data);
        try {
            return parser.parse(path, arena);
        } catch (ModelFormatException e) {
            throw e;
        } catch (RuntimeException e) {
            // Every check is explicit; this only guards against a check we got wrong.
            throw new ModelFormatException(parser.file + ": malformed GGUF file at byte " + parser.pos + " while reading "
                    + parser.reading + " (" + e + ")", e);
        }
    }

    private GgufFile parse(Path path, Arena arena) {
        if (size < 4) {
            throw error("not a GGUF file (" + size + " bytes, too short for the magic 'GGUF')");
        }
        int magic = data.get(U32, 0);
        if (magic != MAGIC) {
            throw error(String.format("not a GGUF file (magic 0x%08X, expected 'GGUF')", Integer.reverseBytes(magic)));
        }
        pos = 4;
        int version = u32();
        if (version == 1) {
            throw error("GGUF version 1 is not supported (expected version 2 or 3; re-convert the model with a "
                    + "current llama.cpp)");
        }
        if (version != 2 && version != 3) {
            if ((version & 0xFFFF) == 0 && (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3)) {
                throw error("big-endian GGUF files are not supported (expected a little-endian file)");
            }
            throw error("unsupported GGUF version " + Integer.toUnsignedString(version) + " (expected 2 or 3)");
        }
        long tensorCount = count("tensor count");
        long kvCount = count("metadata key count");

        Map<String, Object> metadata = new LinkedHashMap<>();
        Map<String, GgufValueType> types = new LinkedHashMap<>();
        Map<String, GgufValueType> elementTypes = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            reading = "metadata key " + i;
            String key = string();
            if (metadata.containsKey(key)) {
                throw error("duplicate metadata key '" + key + "' (key " + i + ")");
            }
            reading = "metadata value '" + key + "' (key " + i + ")";
            long typeId = Integer.toUnsignedLong(u32());
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) {
                throw error("unknown value type " + typeId + " for metadata key '" + key + "' at byte " + (pos - 4)
                        + " (expected 0 to 12)");
            }
            long valueStart = pos;
            metadata.put(key, value(type, 0));
            types.put(key, type);
            if (type == GgufValueType.ARRAY) {
                elementTypes.put(key, GgufValueType.byId(Integer.toUnsignedLong(data.get(U32, valueStart))));
            }
        }
        int alignment = alignment(metadata, types);

        List<GgufTensorInfo> infos = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (long i = 0; i < tensorCount; i++) {
            reading = "tensor info " + i;
            infos.add(tensorInfo(names, alignment));
        }
        long dataOffset = alignUp(pos, alignment);
        checkTensorData(infos, dataOffset);
        return new GgufFile(path, version, metadata, types, elementTypes, infos, alignment, dataOffset, data, arena);
    }

    private GgufTensorInfo tensorInfo(Set<String> names, int alignment) {
        String name = string();
        reading = reading + " ('" + name + "')";
        if (!names.add(name)) {
            throw error("duplicate tensor name '" + name + "'");
        }
        int dims = u32();
        if (dims < 1 || dims > MAX_DIMS) {
            throw error("tensor '" + name + "' has " + Integer.toUnsignedString(dims) + " dimensions (expected 1 to "
                    + MAX_DIMS + ")");
        }
        long[] shape = new long[dims];
        long elements = 1;
        for (int d = 0; d < dims; d++) {
            shape[d] = u64();
            if (shape[d] <= 0) {
                throw error("tensor '" + name + "' has dimension " + d + " = " + Long.toUnsignedString(shape[d])
                        + " (expected a positive size)");
            }
            elements = multiply(elements, shape[d], name);
        }
        if (shape[0] > Integer.MAX_VALUE) {
            throw error("tensor '" + name + "' has rows of " + shape[0] + " values (at most " + Integer.MAX_VALUE
                    + " are supported)");
        }
        long typeId = Integer.toUnsignedLong(u32());
        GgmlType type = typeId <= Integer.MAX_VALUE ? GgmlType.byId((int) typeId) : null;
        if (type == null) {
            throw error("unknown tensor type id " + typeId + " for tensor '" + name + "' (expected a ggml type id: "
                    + knownTypeIds() + ")");
        }
        long offset = u64();
        if (offset < 0) {
            throw error("tensor '" + name + "' has data offset " + Long.toUnsignedString(offset)
                    + ", past the end of the file (" + size + " bytes)");
        }
        if (offset % alignment != 0) {
            throw error("tensor '" + name + "' has data offset " + Long.toUnsignedString(offset)
                    + " (expected a multiple of the alignment " + alignment + ")");
        }
        if (shape[0] % type.blockSize() != 0) {
            throw error("tensor '" + name + "' of type " + type.name() + " has rows of " + shape[0]
                    + " values (expected a multiple of the block size " + type.blockSize() + ")");
        }
        long bytes = multiply(elements / type.blockSize(), type.blockBytes, name);
        return new GgufTensorInfo(name, shape, type, offset, bytes);
    }

    /** Every tensor must lie inside the file, and no tensor's data may run into the next one's. */
    private void checkTensorData(List<GgufTensorInfo> infos, long dataOffset) {
        reading = "the tensor data";
        for (GgufTensorInfo t : infos) {
            long available = size - dataOffset;
            if (t.offset() > available || t.bytes() > available - t.offset()) {
                throw error("tensor '" + t.name() + "' (" + describe(t) + ", " + t.bytes() + " bytes at file offset "
                        + (dataOffset + t.offset()) + ") extends past the end of the file (" + size + " bytes)");
            }
        }
        List<GgufTensorInfo> byOffset = new ArrayList<>(infos);
        byOffset.sort(Comparator.comparingLong(GgufTensorInfo::offset));
        for (int i = 0; i + 1 < byOffset.size(); i++) {
            GgufTensorInfo t = byOffset.get(i);
            GgufTensorInfo next = byOffset.get(i + 1);
            if (t.offset() + t.bytes() > next.offset()) {
                throw error("tensor data size mismatch: tensor '" + t.name() + "' (" + describe(t) + ") needs "
                        + t.bytes() + " bytes from data offset " + t.offset() + ", but tensor '" + next.name()
                        + "' starts at data offset " + next.offset() + " (expected tensors not to overlap)");
            }
        }
    }

    private static String describe(GgufTensorInfo t) {
        return t.type().name() + " " + Arrays.toString(t.shape());
    }

    private int alignment(Map<String, Object> metadata, Map<String, GgufValueType> types) {
        Object value = metadata.get("general.alignment");
        if (value == null) {
            return DEFAULT_ALIGNMENT;
        }
        reading = "metadata value 'general.alignment'";
        GgufValueType type = types.get("general.alignment");
        if (!type.isInteger()) {
            throw error("general.alignment has type " + type.specName() + " (expected uint32)");
        }
        long a = ((Number) value).longValue();
        if (a <= 0 || a > (1 << 30) || Long.bitCount(a) != 1) {
            throw error("general.alignment is " + a + " (expected a power of two)");
        }
        return (int) a;
    }

    // ---- values ----

    private Object value(GgufValueType type, int depth) {
        return switch (type) {
            case UINT8 -> u8();
            case INT8 -> (int) i8();
            case UINT16 -> u16();
            case INT16 -> (int) i16();
            case UINT32 -> Integer.toUnsignedLong(u32());
            case INT32 -> u32();
            case FLOAT32 -> f32();
            case BOOL -> bool();
            case STRING -> string();
            case ARRAY -> array(depth + 1);
            case UINT64, INT64 -> u64();
            case FLOAT64 -> f64();
        };
    }

    private Object array(int depth) {
        if (depth > MAX_ARRAY_DEPTH) {
            throw error("arrays nested more than " + MAX_ARRAY_DEPTH + " deep at byte " + pos + " while reading "
                    + reading);
        }
        long typeId = Integer.toUnsignedLong(u32());
        GgufValueType type = GgufValueType.byId(typeId);
        if (type == null) {
            throw error("unknown array element type " + typeId + " at byte " + (pos - 4) + " while reading " + reading
                    + " (expected 0 to 12)");
        }
        long count = u64();
        if (count < 0 || count > Integer.MAX_VALUE - 8) {
            throw error("array length " + Long.toUnsignedString(count) + " at byte " + (pos - 8)
                    + " is absurd while reading " + reading + " (file has " + size + " bytes)");
        }
        int n = (int) count;
        need((long) n * type.minBytes);
        return switch (type) {
            case UINT8, INT8 -> {
                int[] a = new int[n];
                for (int i = 0; i < n; i++) {
                    byte b = data.get(ValueLayout.JAVA_BYTE, pos + i);
                    a[i] = type == GgufValueType.UINT8 ? b & 0xFF : b;
                }
                pos += n;
                yield a;
            }
            case UINT16, INT16 -> {
                int[] a = new int[n];
                for (int i = 0; i < n; i++) {
                    short s = data.get(U16, pos + 2L * i);
                    a[i] = type == GgufValueType.UINT16 ? s & 0xFFFF : s;
                }
                pos += 2L * n;
                yield a;
            }
            case INT32 -> {
                int[] a = new int[n];
                MemorySegment.copy(data, U32, pos, a, 0, n);
                pos += 4L * n;
                yield a;
            }
            case UINT32 -> {
                long[] a = new long[n];
                for (int i = 0; i < n; i++) {
                    a[i] = Integer.toUnsignedLong(data.get(U32, pos + 4L * i));
                }
                pos += 4L * n;
                yield a;
            }
            case UINT64, INT64 -> {
                long[] a = new long[n];
                MemorySegment.copy(data, U64, pos, a, 0, n);
                pos += 8L * n;
                yield a;
            }
            case FLOAT32 -> {
                float[] a = new float[n];
                MemorySegment.copy(data, F32, pos, a, 0, n);
                pos += 4L * n;
                yield a;
            }
            case FLOAT64 -> {
                double[] a = new double[n];
                MemorySegment.copy(data, F64, pos, a, 0, n);
                pos += 8L * n;
                yield a;
            }
            case BOOL -> {
                boolean[] a = new boolean[n];
                for (int i = 0; i < n; i++) {
                    a[i] = bool();
                }
                yield a;
            }
            case STRING -> {
                String[] a = new String[n];
                for (int i = 0; i < n; i++) {
                    a[i] = string();
                }
                yield a;
            }
            case ARRAY -> {
                List<Object> a = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    a.add(array(depth + 1));
                }
                yield Collections.unmodifiableList(a);
            }
        };
    }

    // ---- primitives, each checked against the file size ----

    private void need(long bytes) {
        if (bytes > size - pos) {
            long end = pos + bytes;
            throw error("truncated at byte " + (end < 0 ? "2^63+" : Long.toString(end)) + " while reading " + reading
                    + " (file has " + size + " bytes)");
        }
    }

    private int u8() {
        need(1);
        return data.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF;
    }

    private byte i8() {
        need(1);
        return data.get(ValueLayout.JAVA_BYTE, pos++);
    }

    private int u16() {
        return i16() & 0xFFFF;
    }

    private short i16() {
        need(2);
        short v = data.get(U16, pos);
        pos += 2;
        return v;
    }

    private int u32() {
        need(4);
        int v = data.get(U32, pos);
        pos += 4;
        return v;
    }

    private long u64() {
        need(8);
        long v = data.get(U64, pos);
        pos += 8;
        return v;
    }

    private float f32() {
        need(4);
        float v = data.get(F32, pos);
        pos += 4;
        return v;
    }

    private double f64() {
        need(8);
        double v = data.get(F64, pos);
        pos += 8;
        return v;
    }

    private boolean bool() {
        need(1);
        byte b = data.get(ValueLayout.JAVA_BYTE, pos);
        if (b != 0 && b != 1) {
            throw error("invalid bool value " + (b & 0xFF) + " at byte " + pos + " while reading " + reading
                    + " (expected 0 or 1)");
        }
        pos++;
        return b == 1;
    }

    private String string() {
        long start = pos;
        long length = u64();
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
            throw error("string length " + Long.toUnsignedString(length) + " at byte " + start + " is absurd while reading "
                    + reading + " (file has " + size + " bytes)");
        }
        need(length);
        int n = (int) length;
        if (scratch.length < n) {
            scratch = new byte[Math.max(n, scratch.length * 2)];
        }
        MemorySegment.copy(data, ValueLayout.JAVA_BYTE, pos, scratch, 0, n);
        pos += n;
        return new String(scratch, 0, n, StandardCharsets.UTF_8);
    }

    /** A u64 count; one beyond 2^63 is certainly damage (a merely too large one ends in a truncation error). */
    private long count(String what) {
        long start = pos;
        long n = u64();
        if (n < 0) {
            throw error(what + " " + Long.toUnsignedString(n) + " at byte " + start + " is absurd for a file of " + size
                    + " bytes");
        }
        return n;
    }

    private long multiply(long a, long b, String tensor) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw error("tensor '" + tensor + "' has too many elements (the shape overflows 64 bits)");
        }
    }

    private static long alignUp(long offset, int alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }

    private static String knownTypeIds() {
        StringBuilder s = new StringBuilder();
        for (GgmlType t : GgmlType.values()) {
            if (!s.isEmpty()) {
                s.append(", ");
            }
            s.append(t.id).append(' ').append(t.name());
        }
        return s.toString();
    }

    private ModelFormatException error(String message) {
        return new ModelFormatException(file + ": " + message);
    }
}
