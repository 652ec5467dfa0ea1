package dev.jllm.format.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.io.OutputFiles;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes one safetensors file: tensors are declared (name, dtype, row-major shape, a callback that streams exactly
 * their bytes), then {@link #write} lays them out back to back in declaration order. The JSON header is padded with
 * spaces to a multiple of 8 bytes, as the safetensors library writes it. The caller takes care of temporary names.
 */
public final class SafetensorsWriter {

    /** Streams one tensor's bytes. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(OutputStream out) throws IOException;
    }

    private record Pending(String name, SafetensorsFile.Dtype dtype, long[] shape, long bytes, TensorData data) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Pending> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafetensorsWriter add(String name, SafetensorsFile.Dtype dtype, long[] shape, TensorData data) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        tensors.add(new Pending(name, dtype, shape.clone(), n * dtype.bytes, data));
        return this;
    }

    /** The names of the tensors declared so far, in order. */
    public List<String> names() {
        return tensors.stream().map(Pending::name).toList();
    }

    /** The total size of the data section. */
    public long dataBytes() {
        return tensors.stream().mapToLong(Pending::bytes).sum();
    }

    /** The header JSON bytes, padded to a multiple of 8. */
    byte[] header() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Pending p : tensors) {
            ObjectNode t = root.putObject(p.name);
            t.put("dtype", p.dtype.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : p.shape) {
                shape.add(d);
            }
            ArrayNode offsets = t.putArray("data_offsets");
            offsets.add(offset);
            offsets.add(offset + p.bytes);
            offset += p.bytes;
        }
        byte[] json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            out[i] = ' ';
        }
        return out;
    }

    /**
     * Writes the file as the new file {@code name} in {@code dir}, a folder being filled by
     * {@link OutputFiles#writeDirectory} (the caller renames the folder into place).
     */
    public void write(Path dir, String name) throws IOException {
        byte[] header = header();
        try (OutputStream out = new BufferedOutputStream(OutputFiles.createNew(dir, name), 1 << 20)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            for (Pending p : tensors) {
                CountingStream counted = new CountingStream(out);
                p.data.writeTo(counted);
                if (counted.count != p.bytes) {
                    throw new IllegalStateException("tensor " + p.name + ": wrote " + counted.count + " bytes, expected "
                            + p.bytes);
                }
            }
        }
    }

    private static final class CountingStream extends OutputStream {
        private final OutputStream out;
        long count;

        CountingStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
