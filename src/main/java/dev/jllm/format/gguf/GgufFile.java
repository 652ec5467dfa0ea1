package dev.jllm.format.gguf;

import dev.jllm.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A parsed GGUF file, whatever its architecture: the metadata in file order, the tensor descriptions and the
 * memory-mapped file. Tensor views stay valid until {@link #close()} (or until the {@code ModelFile} that took over
 * the mapping is closed).
 */
public final class GgufFile implements AutoCloseable {

    private final Path path;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, GgufValueType> valueTypes;
    private final Map<String, GgufValueType> arrayElementTypes;
    private final List<GgufTensorInfo> tensorInfos;
    private final int alignment;
    private final long dataOffset;
    private final MemorySegment file;
    private final Arena arena;

    GgufFile(Path path, int version, Map<String, Object> metadata, Map<String, GgufValueType> valueTypes,
            Map<String, GgufValueType> arrayElementTypes, List<GgufTensorInfo> tensorInfos, int alignment,
            long dataOffset, MemorySegment file, Arena arena) {
        this.path = path;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.valueTypes = Collections.unmodifiableMap(valueTypes);
        this.arrayElementTypes = Collections.unmodifiableMap(arrayElementTypes);
        this.tensorInfos = List.copyOf(tensorInfos);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
        this.file = file;
        this.arena = arena;
    }

    public Path path() {
        return path;
    }

    /** The GGUF version (2 or 3). */
    public int version() {
        return version;
    }

    /** All key/value pairs in file order; see {@link GgufValueType} for the Java representation of each type. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** The GGUF type each metadata value was stored with (ARRAY for arrays). */
    public Map<String, GgufValueType> valueTypes() {
        return valueTypes;
    }

    /**
     * The element type of each array value, by key (the Java representation alone cannot tell, say, int8 from int32).
     * For arrays of arrays this is ARRAY; the inner element types are not kept.
     */
    public Map<String, GgufValueType> arrayElementTypes() {
        return arrayElementTypes;
    }

    /** Tensor descriptions in file order. */
    public List<GgufTensorInfo> tensorInfos() {
        return tensorInfos;
    }

    /** {@code general.alignment}, or 32. */
    public int alignment() {
        return alignment;
    }

    /** Where the data section starts in the file. */
    public long dataOffset() {
        return dataOffset;
    }

    /** The whole mapped file. */
    public MemorySegment segment() {
        return file;
    }

    /** Views over the mapped file, one per tensor, in file order (no data is copied). */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (GgufTensorInfo info : tensorInfos) {
            MemorySegment data = file.asSlice(dataOffset + info.offset(), info.bytes());
            tensors.put(info.name(), new Tensor(info.name(), info.type(), info.shape(), data));
        }
        return tensors;
    }

    /** The arena that owns the mapping (for handing over to a {@code ModelFile}). */
    Arena arena() {
        return arena;
    }

    /** Unmaps the file. */
    @Override
    public void close() {
        arena.close();
    }
}
