package dev.jllm.format.gguf;

import dev.jllm.io.OutputFiles;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes GGUF v3 files: the header (magic, version, counts), the metadata in insertion order, the tensor infos, then
 * the data section, each tensor starting at a multiple of {@code general.alignment} (32 unless that key is set) and
 * padded with zeros to the next multiple, as ggml's {@code gguf_write_to_file} writes it (the header is padded even
 * when no tensor follows; gguf-py's vocabulary-only files end unpadded, which readers accept as well).
 *
 * <p>Tensors are declared first (name, type, shape) with a {@link TensorData} callback; {@link #write} calls the
 * callbacks one after the other, in declaration order, so the data is streamed to the file and never held whole in
 * memory. The file is written under a temporary name in the same directory and renamed into place only when complete
 * ({@link OutputFiles}); on any failure, SIGINT or SIGTERM the temporary file is deleted.
 *
 * <p>Metadata values use the same Java types as {@link GgufReader} produces (see {@link GgufValueType}); arrays take
 * their element type explicitly.
 */
public final class GgufWriter {

    static final int VERSION = 3;
    private static final String ALIGNMENT_KEY = "general.alignment";

    /** Writes one tensor's bytes, exactly as many as its type and shape need, to the sink. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(TensorSink sink) throws IOException;
    }

    /** Where a {@link TensorData} callback writes. */
    public interface TensorSink {
        void write(ByteBuffer bytes) throws IOException;

        void write(MemorySegment bytes) throws IOException;
    }

    /** Told how far the write has come, after every piece written. */
    @FunctionalInterface
    public interface Progress {
        void update(long bytesWritten, long totalBytes);
    }

    /** A metadata value with its GGUF type; for arrays {@code elementType} says what the elements are. */
    record Value(GgufValueType type, GgufValueType elementType, Object value) {
    }

    private record PendingTensor(String name, GgmlType type, long[] shape, long bytes, TensorData data) {
    }

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();

    // ---- metadata ----

    /**
     * Sets a scalar value ({@code type} not ARRAY) in the reader's Java representation: a {@link Number} for the
     * integer and float types (range-checked), {@link Boolean}, {@link String}. A key set twice keeps its first place.
     */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        if (type == GgufValueType.ARRAY) {
            throw new IllegalArgumentException("metadata '" + key + "': use putArray for arrays");
        }
        checkScalar(key, type, value);
        if (key.equals(ALIGNMENT_KEY)) {
            checkAlignment(type, value);
        }
        metadata.put(key, new Value(type, null, value));
        return this;
    }

    /**
     * Sets an array value: {@code int[]} for the 8/16-bit integer types and int32, {@code long[]} for uint32, int64
     * and uint64, {@code float[]}, {@code double[]}, {@code boolean[]}, {@code String[]}.
     */
    public GgufWriter putArray(String key, GgufValueType elementType, Object values) {
        if (elementType == GgufValueType.ARRAY) {
            throw new IllegalArgumentException("metadata '" + key + "': arrays of arrays are not supported");
        }
        checkArray(key, elementType, values);
        metadata.put(key, new Value(GgufValueType.ARRAY, elementType, values));
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, value);
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    /** Copies one key of a file that was read, with its type (and element type for arrays). */
    public GgufWriter copy(GgufFile from, String key) {
        GgufValueType type = from.valueTypes().get(key);
        if (type == null) {
            throw new IllegalArgumentException(from.path() + ": no metadata key '" + key + "'");
        }
        Object value = from.metadata().get(key);
        return type == GgufValueType.ARRAY ? putArray(key, from.arrayElementTypes().get(key), value)
                : put(key, type, value);
    }

    /** The keys set so far, in file order. */
    public Set<String> keys() {
        return Collections.unmodifiableSet(metadata.keySet());
    }

    /** {@code general.alignment} if set, else 32. */
    public int alignment() {
        Value v = metadata.get(ALIGNMENT_KEY);
        return v == null ? GgufParser.DEFAULT_ALIGNMENT : ((Number) v.value()).intValue();
    }

    // ---- tensors ----

    /** Declares a tensor; its data comes from {@code data} when the file is written. Shape in ggml order. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorData data) {
        if (!tensorNames.add(name)) {
            throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        }
        if (shape.length < 1 || shape.length > GgufParser.MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "': " + shape.length + " dimensions (expected 1 to "
                    + GgufParser.MAX_DIMS + ")");
        }
        long elements = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                        + " (expected positive dimensions)");
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (shape[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor '" + name + "' of type " + type.name() + ": rows of " + shape[0]
                    + " values (expected a multiple of the block size " + type.blockSize() + ")");
        }
        long bytes = Math.multiplyExact(elements / type.blockSize(), (long) type.blockBytes);
        tensors.add(new PendingTensor(name, type, shape.clone(), bytes, data));
        return this;
    }

    /** Declares a copy of one tensor of a file that was read (its bytes are copied from the mapped file). */
    public GgufWriter copyTensor(GgufFile from, GgufTensorInfo info) {
        MemorySegment bytes = from.segment().asSlice(from.dataOffset() + info.offset(), info.bytes());
        return addTensor(info.name(), info.type(), info.shape(), sink -> sink.write(bytes));
    }

    /** A writer holding all the metadata (in order, with types) and all the tensors (in order) of a file. */
    public static GgufWriter copyOf(GgufFile file) {
        GgufWriter w = new GgufWriter();
        for (String key : file.metadata().keySet()) {
            w.copy(file, key);
        }
        for (GgufTensorInfo info : file.tensorInfos()) {
            w.copyTensor(file, info);
        }
        return w;
    }

    /** The size the written file will have, in bytes. */
    public long fileSize() {
        return alignUp(header().length, alignment()) + dataSize();
    }

    private long dataSize() {
        long size = 0;
        for (PendingTensor t : tensors) {
            size += alignUp(t.bytes(), alignment());
        }
        return size;
    }

    // ---- writing ----

    /**
     * Writes the file with {@link OutputFiles#writeFile}: to a temporary file beside {@code path}, renamed to
     * {@code path} (replacing a regular file; a device, a folder or another special file is refused) once complete.
     * On failure or interruption nothing is left behind. {@code progress} may be null.
     */
    public void write(Path path, Progress progress) throws IOException {
        byte[] header = header();
        int alignment = alignment();
        long total = alignUp(header.length, alignment) + dataSize();
        OutputFiles.writeFile(path, OutputFiles.Links.FOLLOW, channel -> {
            Sink sink = new Sink(channel, total, progress);
            sink.write(ByteBuffer.wrap(header));
            sink.pad(alignment);
            for (PendingTensor t : tensors) {
                long start = sink.written;
                t.data().writeTo(sink);
                long wrote = sink.written - start;
                if (wrote != t.bytes()) {
                    throw new IllegalStateException("tensor '" + t.name() + "' (" + t.type().name() + " "
                            + Arrays.toString(t.shape()) + "): " + wrote + " bytes written, expected " + t.bytes());
                }
                sink.pad(alignment);
            }
            if (sink.written != total) {
                throw new IllegalStateException("wrote " + sink.written + " bytes, expected " + total);
            }
            return null;
        });
    }

    /** The type each tensor is written in, by name, in declaration order. */
    public Map<String, GgmlType> tensorTypes() {
        Map<String, GgmlType> types = new LinkedHashMap<>();
        for (PendingTensor t : tensors) {
            types.put(t.name(), t.type());
        }
        return types;
    }

    /** The shape (ggml order) of each tensor, by name, in declaration order. */
    public Map<String, long[]> tensorShapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (PendingTensor t : tensors) {
            shapes.put(t.name(), t.shape().clone());
        }
        return shapes;
    }

    /** Counts what goes to the channel and pads between tensors. */
    private static final class Sink implements TensorSink {
        private static final long MAX_PIECE = 1L << 30;
        private final FileChannel channel;
        private final long total;
        private final Progress progress;
        long written;

        Sink(FileChannel channel, long total, Progress progress) {
            this.channel = channel;
            this.total = total;
            this.progress = progress;
        }

        @Override
        public void write(ByteBuffer bytes) throws IOException {
            while (bytes.hasRemaining()) {
                written += channel.write(bytes);
            }
            if (progress != null) {
                progress.update(written, total);
            }
        }

        @Override
        public void write(MemorySegment bytes) throws IOException {
            for (long at = 0; at < bytes.byteSize(); at += MAX_PIECE) {
                write(bytes.asSlice(at, Math.min(MAX_PIECE, bytes.byteSize() - at)).asByteBuffer());
            }
        }

        void pad(int alignment) throws IOException {
            int padding = (int) (alignUp(written, alignment) - written);
            if (padding > 0) {
                write(ByteBuffer.allocate(padding));
            }
        }
    }

    private static long alignUp(long n, int alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    // ---- the header ----

    private byte[] header() {
        int alignment = alignment();
        Bytes b = new Bytes();
        b.u32(GgufParser.MAGIC).u32(VERSION).u64(tensors.size()).u64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            Value v = e.getValue();
            b.string(e.getKey()).u32(v.type().id);
            if (v.type() == GgufValueType.ARRAY) {
                b.array(v.elementType(), v.value());
            } else {
                b.scalar(v.type(), v.value());
            }
        }
        long offset = 0;
        for (PendingTensor t : tensors) {
            b.string(t.name()).u32(t.shape().length);
            for (long d : t.shape()) {
                b.u64(d);
            }
            b.u32(t.type().id).u64(offset);
            offset += alignUp(t.bytes(), alignment);
        }
        return b.toArray();
    }

    /** A growing little-endian buffer. */
    private static final class Bytes {
        private ByteBuffer buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private Bytes room(int n) {
            if (buffer.remaining() < n) {
                long needed = (long) buffer.position() + n;
                int capacity = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(needed, 2L * buffer.capacity()));
                if (capacity < needed) {
                    throw new IllegalArgumentException("GGUF header larger than 2 GiB");
                }
                ByteBuffer bigger = ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN);
                buffer.flip();
                bigger.put(buffer);
                buffer = bigger;
            }
            return this;
        }

        Bytes u8(int v) {
            room(1).buffer.put((byte) v);
            return this;
        }

        Bytes u16(int v) {
            room(2).buffer.putShort((short) v);
            return this;
        }

        Bytes u32(long v) {
            room(4).buffer.putInt((int) v);
            return this;
        }

        Bytes u64(long v) {
            room(8).buffer.putLong(v);
            return this;
        }

        Bytes string(String s) {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            u64(utf8.length);
            room(utf8.length).buffer.put(utf8);
            return this;
        }

        Bytes scalar(GgufValueType type, Object v) {
            return switch (type) {
                case UINT8, INT8 -> u8(((Number) v).intValue());
                case UINT16, INT16 -> u16(((Number) v).intValue());
                case UINT32, INT32 -> u32(((Number) v).longValue());
                case UINT64, INT64 -> u64(((Number) v).longValue());
                case FLOAT32 -> u32(Float.floatToRawIntBits(((Number) v).floatValue()));
                case FLOAT64 -> u64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
                case BOOL -> u8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> throw new IllegalArgumentException("nested array");
            };
        }

        Bytes array(GgufValueType elementType, Object values) {
            u32(elementType.id);
            switch (values) {
                case int[] a -> {
                    u64(a.length);
                    for (int x : a) {
                        scalar(elementType, x);
                    }
                }
                case long[] a -> {
                    u64(a.length);
                    for (long x : a) {
                        scalar(elementType, x);
                    }
                }
                case float[] a -> {
                    u64(a.length);
                    for (float x : a) {
                        u32(Float.floatToRawIntBits(x));
                    }
                }
                case double[] a -> {
                    u64(a.length);
                    for (double x : a) {
                        u64(Double.doubleToRawLongBits(x));
                    }
                }
                case boolean[] a -> {
                    u64(a.length);
                    for (boolean x : a) {
                        u8(x ? 1 : 0);
                    }
                }
                case String[] a -> {
                    u64(a.length);
                    for (String x : a) {
                        string(x);
                    }
                }
                default -> throw new IllegalArgumentException("unsupported array " + values.getClass());
            }
            return this;
        }

        byte[] toArray() {
            return Arrays.copyOf(buffer.array(), buffer.position());
        }
    }

    // ---- checks ----

    private static void checkScalar(String key, GgufValueType type, Object value) {
        boolean ok = switch (type) {
            case UINT8 -> isInteger(value) && inRange(value, 0, 0xFF);
            case INT8 -> isInteger(value) && inRange(value, Byte.MIN_VALUE, Byte.MAX_VALUE);
            case UINT16 -> isInteger(value) && inRange(value, 0, 0xFFFF);
            case INT16 -> isInteger(value) && inRange(value, Short.MIN_VALUE, Short.MAX_VALUE);
            case UINT32 -> isInteger(value) && inRange(value, 0, 0xFFFF_FFFFL);
            case INT32 -> isInteger(value) && inRange(value, Integer.MIN_VALUE, Integer.MAX_VALUE);
            case UINT64, INT64 -> isInteger(value); // uint64 as its two's-complement bits, as the reader gives it
            case FLOAT32 -> value instanceof Float;
            case FLOAT64 -> value instanceof Double;
            case BOOL -> value instanceof Boolean;
            case STRING -> value instanceof String;
            case ARRAY -> false;
        };
        if (!ok) {
            throw new IllegalArgumentException("metadata '" + key + "': " + describe(value) + " is not a valid "
                    + type.specName());
        }
    }

    private static void checkArray(String key, GgufValueType elementType, Object values) {
        boolean ok = switch (elementType) {
            case UINT8, INT8, UINT16, INT16, INT32 -> values instanceof int[];
            case UINT32, UINT64, INT64 -> values instanceof long[];
            case FLOAT32 -> values instanceof float[];
            case FLOAT64 -> values instanceof double[];
            case BOOL -> values instanceof boolean[];
            case STRING -> values instanceof String[];
            case ARRAY -> false;
        };
        if (!ok) {
            throw new IllegalArgumentException("metadata '" + key + "': " + describe(values)
                    + " is not a valid array of " + elementType.specName());
        }
        switch (values) {
            case int[] a -> {
                for (int x : a) {
                    checkScalar(key, elementType, x);
                }
            }
            case long[] a -> {
                for (long x : a) {
                    checkScalar(key, elementType, x);
                }
            }
            case String[] a -> {
                for (String s : a) {
                    if (s == null) {
                        throw new IllegalArgumentException("metadata '" + key + "': null string in array");
                    }
                }
            }
            default -> {
            }
        }
    }

    private static void checkAlignment(GgufValueType type, Object value) {
        long a = ((Number) value).longValue();
        if (!type.isInteger() || a <= 0 || a > (1 << 30) || Long.bitCount(a) != 1) {
            throw new IllegalArgumentException(ALIGNMENT_KEY + " " + value + " (expected a power of two, as uint32)");
        }
    }

    private static boolean isInteger(Object v) {
        return v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte;
    }

    private static boolean inRange(Object v, long min, long max) {
        long x = ((Number) v).longValue();
        return x >= min && x <= max;
    }

    private static String describe(Object v) {
        return v == null ? "null" : v.getClass().getSimpleName() + " " + v;
    }
}
