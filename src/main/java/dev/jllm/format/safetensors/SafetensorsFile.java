package dev.jllm.format.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code .safetensors} file, validated and memory-mapped: an 8-byte little-endian header length, a JSON header
 * ({@code name -> {dtype, shape, data_offsets}} plus an optional string map {@code __metadata__}), then the byte buffer
 * the offsets index. The buffer must be covered exactly (no overlaps, no holes, every tensor's byte length equal to its
 * element count times its dtype's size), as the safetensors specification requires.
 *
 * @param path     the file
 * @param tensors  the tensors in header order (names as the file spells them)
 * @param metadata the {@code __metadata__} strings (empty when absent)
 * @param data     the whole byte buffer, mapped (lives as long as the arena given to {@link #open})
 */
public record SafetensorsFile(Path path, Map<String, Entry> tensors, Map<String, String> metadata, MemorySegment data) {

    /** The safetensors library refuses headers above 100 MB; so do we. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One tensor's header entry.
     *
     * @param shape row-major, as the file writes it (the last dimension is contiguous)
     * @param begin byte offset of the first value in the data buffer
     * @param end   byte offset just past the last value
     */
    public record Entry(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** The dtypes of the specification; jllm computes with the float ones that have a {@link #ggmlType}. */
    public enum Dtype {
        BOOL(1, null), U8(1, null), I8(1, null), F8_E5M2(1, null), F8_E4M3(1, null), I16(2, null), U16(2, null),
        F16(2, GgmlType.F16), BF16(2, GgmlType.BF16), I32(4, null), U32(4, null), F32(4, GgmlType.F32),
        I64(8, null), U64(8, null), F64(8, null);

        public final int bytes;
        public final GgmlType ggmlType;

        Dtype(int bytes, GgmlType ggmlType) {
            this.bytes = bytes;
            this.ggmlType = ggmlType;
        }

        static Dtype parse(String name) {
            for (Dtype d : values()) {
                if (d.name().equals(name)) {
                    return d;
                }
            }
            return null;
        }

        /** The dtype for a GGUF float type, or null. */
        public static Dtype of(GgmlType type) {
            for (Dtype d : values()) {
                if (d.ggmlType == type) {
                    return d;
                }
            }
            return null;
        }
    }

    /** Reads and validates the header of {@code path} and maps its data buffer into {@code arena}. */
    public static SafetensorsFile open(Path path, Arena arena) {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw bad(path, "file is " + size + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || headerLength > size - 8) {
                throw bad(path, "header length " + Long.toUnsignedString(headerLength) + " is impossible for a file of "
                        + size + " bytes (expected 1.." + Math.min(MAX_HEADER_BYTES, size - 8) + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            long dataStart = 8 + headerLength;
            long dataSize = size - dataStart;
            SafetensorsFile parsed = parse(path, header.array(), dataSize, null);
            MemorySegment data = channel.map(FileChannel.MapMode.READ_ONLY, dataStart, dataSize, arena);
            return new SafetensorsFile(path, parsed.tensors, parsed.metadata, data);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": no such file");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read safetensors file: " + e.getMessage(), e);
        }
    }

    /** Whether the file starts like a safetensors file (a plausible header length followed by '{'). */
    public static boolean looksLikeSafetensors(Path path) {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            if (channel.size() < 10) {
                return false;
            }
            ByteBuffer start = ByteBuffer.allocate(9).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, start, 0);
            long n = start.getLong(0);
            return n > 0 && n <= channel.size() - 8 && start.get(8) == '{';
        } catch (IOException e) {
            return false;
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    /** Parses and validates a header (the JSON bytes) against a data buffer of {@code dataSize} bytes. */
    static SafetensorsFile parse(Path path, byte[] header, long dataSize, MemorySegment data) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JsonProcessingException e) {
            throw bad(path, "header is not valid JSON (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        } catch (IOException e) {
            throw bad(path, "header cannot be read: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw bad(path, "header is not a JSON object");
        }
        Map<String, Entry> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            JsonNode node = field.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) {
                    throw bad(path, "__metadata__ is not an object");
                }
                for (Iterator<Map.Entry<String, JsonNode>> m = node.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw bad(path, "__metadata__ value '" + kv.getKey() + "' is not a string");
                    }
                    metadata.put(kv.getKey(), kv.getValue().asText());
                }
                continue;
            }
            tensors.put(name, entry(path, name, node, dataSize));
        }
        checkCoverage(path, tensors, dataSize);
        return new SafetensorsFile(path, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata),
                data);
    }

    private static Entry entry(Path path, String name, JsonNode node, long dataSize) {
        String what = "tensor '" + name + "'";
        if (!node.isObject()) {
            throw bad(path, what + " is not an object");
        }
        JsonNode dtypeNode = node.path("dtype");
        if (!dtypeNode.isTextual()) {
            throw bad(path, what + " has no dtype");
        }
        Dtype dtype = Dtype.parse(dtypeNode.asText());
        if (dtype == null) {
            throw bad(path, what + " has unknown dtype '" + dtypeNode.asText() + "'");
        }
        JsonNode shapeNode = node.path("shape");
        if (!shapeNode.isArray()) {
            throw bad(path, what + " has no shape array");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw bad(path, what + " has shape " + shapeNode + " (expected non-negative integers)");
            }
            shape[i] = d.asLong();
            elements = Math.multiplyHigh(elements, shape[i]) != 0 ? -1 : elements * shape[i];
            if (elements < 0) {
                throw bad(path, what + " has shape " + shapeNode + ", too large");
            }
        }
        JsonNode offsets = node.path("data_offsets");
        if (!offsets.isArray() || offsets.size() != 2 || !offsets.get(0).isIntegralNumber()
                || !offsets.get(1).isIntegralNumber() || !offsets.get(0).canConvertToLong()
                || !offsets.get(1).canConvertToLong()) {
            throw bad(path, what + " has data_offsets " + offsets + " (expected [begin, end])");
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        if (begin < 0 || end < begin || end > dataSize) {
            throw bad(path, what + " has data_offsets [" + begin + ", " + end + "] outside the " + dataSize
                    + "-byte data buffer");
        }
        if (elements > Long.MAX_VALUE / dtype.bytes || end - begin != elements * dtype.bytes) {
            throw bad(path, what + " has data_offsets [" + begin + ", " + end + "] (" + (end - begin)
                    + " bytes), but shape " + shapeNode + " of " + dtype + " needs " + elements * dtype.bytes + " bytes");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static void checkCoverage(Path path, Map<String, Entry> tensors, long dataSize) {
        List<Entry> sorted = new ArrayList<>(tensors.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin() < covered) {
                throw bad(path, "tensor '" + e.name() + "' bytes [" + e.begin() + ", " + e.end()
                        + ") overlap tensor '" + previous.name() + "' [" + previous.begin() + ", " + previous.end() + ")");
            }
            if (e.begin() > covered) {
                throw bad(path, "data bytes [" + covered + ", " + e.begin() + ") belong to no tensor (a hole before '"
                        + e.name() + "')");
            }
            covered = e.end();
            previous = e;
        }
        if (covered != dataSize) {
            throw bad(path, "the data buffer is " + dataSize + " bytes but the tensors cover " + covered);
        }
    }

    /** The bytes of one tensor. */
    public MemorySegment slice(Entry e) {
        return data.asSlice(e.begin(), e.end() - e.begin());
    }

    static ModelFormatException bad(Path path, String problem) {
        return new ModelFormatException(path + ": bad safetensors file: " + problem);
    }
}
