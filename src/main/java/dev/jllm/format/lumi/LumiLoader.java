package dev.jllm.format.lumi;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.meta.MetaParams;
import dev.jllm.format.meta.MetaTensors;
import dev.jllm.format.pytorch.LittleEndianReader;
import dev.jllm.format.pytorch.StridedCopy;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerFiles;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The lumi weights format ({@code .lmw}) of the llama-np project ({@code yuanlin2004/lumi}, {@code convert.py} and
 * {@code read_lumi.py}). All three layouts it has written carry format version 1, so the layout is told by content
 * (the one whose tensors end exactly at the end of the file):
 * <ul>
 *   <li>{@link Layout#PLAIN} (April 2024): magic {@code lumi}, version, nine parameters (int32 dim, n_layers, n_heads,
 *       n_kv_heads, multiple_of, vocab_size, max_seq_len, float32 rope_theta, norm_eps), then tensors: a name padded
 *       with spaces (int32 length, bytes), int32 rank and sizes, then float32 values in PyTorch's order;</li>
 *   <li>{@link Layout#MODEL_VERSION} (May 2024): the model version (2 Llama 2, SentencePiece; 3 Llama 3, tiktoken)
 *       after the format version, and after the parameters the {@code tokenizer.model} bytes (int32 length, bytes,
 *       1-4 zero bytes of padding); each tensor has an int32 transposed flag and an int32 dtype (132 fp32, 117 bf16)
 *       before its values, and 2-D weights other than the embedding are stored transposed;</li>
 *   <li>{@link Layout#MODEL_NAME} (from 19 May 2024): a padded model name in place of the model version.</li>
 * </ul>
 * Untransposed tensors are read in place from the mapped file; a transposed matrix is copied once, explicitly, into
 * row-major order in memory of the model file's arena.
 */
public final class LumiLoader {

    /** "lumi" as a little-endian uint32. */
    static final int MAGIC = 0x696D756C;
    static final int DTYPE_FP32 = 132;
    static final int DTYPE_BF16 = 117;
    private static final int MAX_NAME = 4096;
    private static final int MAX_RANK = 8;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The three layouts, oldest first. */
    enum Layout {
        PLAIN("no tokenizer, float32"),
        MODEL_VERSION("model version, embedded tokenizer.model"),
        MODEL_NAME("model name, embedded tokenizer.model");

        final String description;

        Layout(String description) {
            this.description = description;
        }
    }

    /** What precedes the tensors. */
    record Header(Layout layout, int version, int modelVersion, String modelName, int[] ints, float ropeTheta,
            float normEps, long tokenizerOffset, int tokenizerLength, long tensorsOffset) {
    }

    /**
     * One tensor's place.
     *
     * @param size PyTorch's sizes as the file writes them (of the untransposed tensor)
     */
    record Entry(String name, long[] size, boolean transposed, int dtype, long offset, long bytes) {
        long elements() {
            long n = 1;
            for (long d : size) {
                n *= d;
            }
            return n;
        }
    }

    private LumiLoader() {
    }

    /** Whether the file starts with lumi's magic. */
    public static boolean isLumi(Path path) {
        if (!Files.isRegularFile(path)) {
            return false;
        }
        try (var in = Files.newInputStream(path)) {
            byte[] head = in.readNBytes(4);
            return head.length == 4 && MemorySegment.ofArray(head).get(I32, 0) == MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    public static ModelFile load(Path path) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file = LittleEndianReader.map(path, arena);
            Parsed parsed = parse(path, file);
            return build(path, file, parsed, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** A header and the tensors after it, ending exactly at the end of the file. */
    record Parsed(Header header, List<Entry> entries) {
    }

    /** Tries the layouts the bytes after the version allow, and takes the one that accounts for the whole file. */
    static Parsed parse(Path path, MemorySegment file) {
        LittleEndianReader r = new LittleEndianReader(path, file, "bad lumi file");
        if (r.i32(0) != MAGIC) {
            throw r.bad("does not start with the magic 'lumi'");
        }
        int version = r.i32(4);
        if (version != 1) {
            throw r.bad("format version " + version + " (expected 1)");
        }
        int third = r.i32(8);
        List<Layout> candidates = third == 2 || third == 3 ? List.of(Layout.MODEL_VERSION, Layout.PLAIN)
                : third > 0 && third % 4 == 0 && third <= MAX_NAME ? List.of(Layout.MODEL_NAME, Layout.PLAIN)
                : List.of(Layout.PLAIN);
        ModelFormatException first = null;
        for (Layout layout : candidates) {
            try {
                Header header = header(r, layout);
                return new Parsed(header, entries(r, header));
            } catch (ModelFormatException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        throw first;
    }

    private static Header header(LittleEndianReader r, Layout layout) {
        long p = 8;
        int modelVersion = 0;
        String modelName = null;
        if (layout == Layout.MODEL_VERSION) {
            modelVersion = r.i32(p);
            p += 4;
        } else if (layout == Layout.MODEL_NAME) {
            int length = r.i32(p);
            modelName = paddedString(r, p + 4, length, "model name");
            p += 4 + length;
        }
        int[] ints = new int[7];
        for (int i = 0; i < 7; i++) {
            ints[i] = r.i32(p + 4L * i);
        }
        float theta = r.f32(p + 28);
        float eps = r.f32(p + 32);
        p += 36;
        long tokenizerOffset = 0;
        int tokenizerLength = 0;
        if (layout != Layout.PLAIN) {
            tokenizerLength = r.i32(p);
            if (tokenizerLength < 0 || tokenizerLength > r.size() - p - 4) {
                throw r.bad("embedded tokenizer.model of " + Integer.toUnsignedString(tokenizerLength)
                        + " bytes runs past the end of the file (" + layout.description + " layout)");
            }
            tokenizerOffset = p + 4;
            p = tokenizerOffset + tokenizerLength + (4 - tokenizerLength % 4);
        }
        return new Header(layout, 1, modelVersion, modelName, ints, theta, eps, tokenizerOffset, tokenizerLength, p);
    }

    private static List<Entry> entries(LittleEndianReader r, Header h) {
        List<Entry> entries = new ArrayList<>();
        long p = h.tensorsOffset();
        while (p < r.size()) {
            int nameLength = r.i32(p);
            String name = paddedString(r, p + 4, nameLength, "tensor name");
            p += 4 + nameLength;
            int rank = r.i32(p);
            if (rank < 1 || rank > MAX_RANK) {
                throw r.bad("tensor '" + name + "' has rank " + rank + " (expected 1.." + MAX_RANK + "; "
                        + h.layout().description + " layout)");
            }
            long[] size = new long[rank];
            long elements = 1;
            for (int i = 0; i < rank; i++) {
                size[i] = Integer.toUnsignedLong(r.i32(p + 4 + 4L * i));
                elements = size[i] == 0 ? 0 : Math.multiplyHigh(elements, size[i]) != 0 ? -1 : elements * size[i];
                if (elements < 0 || elements > r.size()) {
                    throw r.bad("tensor '" + name + "' has a size larger than the file");
                }
            }
            p += 4 + 4L * rank;
            boolean transposed = false;
            int dtype = DTYPE_FP32;
            if (h.layout() != Layout.PLAIN) {
                int flag = r.i32(p);
                dtype = r.i32(p + 4);
                p += 8;
                if (flag != 0 && flag != 1) {
                    throw r.bad("tensor '" + name + "' has transposed flag " + flag + " (expected 0 or 1)");
                }
                if (dtype != DTYPE_FP32 && dtype != DTYPE_BF16) {
                    throw r.bad("tensor '" + name + "' has dtype " + dtype + " (expected 132 fp32 or 117 bf16)");
                }
                if (flag == 1 && rank != 2) {
                    throw r.bad("tensor '" + name + "' is marked transposed but has rank " + rank);
                }
                transposed = flag == 1;
            }
            long bytes = elements * (dtype == DTYPE_BF16 ? 2 : 4);
            if (bytes > r.size() - p) {
                throw r.bad("tensor '" + name + "' needs " + bytes + " bytes at offset " + p + ", past the end of the "
                        + r.size() + "-byte file (truncated? " + h.layout().description + " layout)");
            }
            entries.add(new Entry(name, size, transposed, dtype, p, bytes));
            p += bytes;
        }
        if (entries.isEmpty()) {
            throw r.bad("holds no tensors");
        }
        return entries;
    }

    private static ModelFile build(Path path, MemorySegment file, Parsed parsed, Arena arena) {
        Header h = parsed.header();
        String where = path.toString();
        Map<String, Tensor> byMetaName = new LinkedHashMap<>();
        long copied = 0;
        int transposedCount = 0;
        for (Entry e : parsed.entries()) {
            GgmlType type = e.dtype() == DTYPE_BF16 ? GgmlType.BF16 : GgmlType.F32;
            int elementBytes = e.dtype() == DTYPE_BF16 ? 2 : 4;
            long[] shape = new long[e.size().length];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = e.size()[shape.length - 1 - i];
            }
            MemorySegment stored = file.asSlice(e.offset(), e.bytes());
            MemorySegment data = stored;
            if (e.transposed()) {
                // stored as the transpose: size[1] rows of size[0]; read it as size[0] rows of size[1]
                data = arena.allocate(e.bytes(), 64);
                StridedCopy.copy(stored, 0, e.size(), new long[] {1, e.size()[0]}, data, 0,
                        new long[] {e.size()[1], 1}, elementBytes);
                copied += e.bytes();
                transposedCount++;
            }
            if (byMetaName.put(e.name(), new Tensor(e.name(), type, shape, data)) != null) {
                throw new ModelFormatException(where + ": tensor '" + e.name() + "' appears twice");
            }
        }
        Map<String, Tensor> tensors = MetaTensors.renamed(byMetaName, where);
        Map<String, Object> params = new LinkedHashMap<>();
        String[] names = {"dim", "n_layers", "n_heads", "n_kv_heads", "multiple_of", "vocab_size", "max_seq_len"};
        for (int i = 0; i < names.length; i++) {
            params.put(names[i], (long) h.ints()[i]);
        }
        params.put("rope_theta", (double) h.ropeTheta());
        params.put("norm_eps", (double) h.normEps());
        Tensor gate = tensors.get("blk.0.ffn_gate.weight");
        if (gate != null && gate.shape().length == 2) {
            params.put("hidden_dim", gate.shape()[1]); // lumi keeps no ffn_dim_multiplier; the weights say it
        }
        MetaParams meta = MetaParams.from(params, where + ": lumi parameters");
        LlamaConfig config = MetaTensors.config(meta, tensors, where);

        TokenizerSpec tokenizer = null;
        if (h.layout() != Layout.PLAIN) {
            byte[] bytes = file.asSlice(h.tokenizerOffset(), h.tokenizerLength()).toArray(ValueLayout.JAVA_BYTE);
            tokenizer = TokenizerFiles.loadModelBytes(path, bytes);
        } else if (Files.isRegularFile(path.toAbsolutePath().resolveSibling("tokenizer.model"))) {
            tokenizer = TokenizerFiles.load(path.toAbsolutePath().resolveSibling("tokenizer.model"));
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("general.architecture", "llama");
        metadata.put("lumi.version", h.version());
        if (h.layout() == Layout.MODEL_VERSION) {
            metadata.put("lumi.model_version", h.modelVersion());
        }
        if (h.layout() == Layout.MODEL_NAME) {
            metadata.put("general.name", h.modelName());
            metadata.put("lumi.model_name", h.modelName());
        }
        params.remove("hidden_dim");
        params.forEach((k, v) -> metadata.put("lumi." + k, v));
        metadata.put("lumi.tokenizer_bytes", h.tokenizerLength());
        metadata.put("lumi.transposed_bytes", copied);
        String format = "lumi .lmw (format 1, " + (h.layout() == Layout.MODEL_VERSION
                ? "model version " + h.modelVersion() + ", embedded tokenizer.model"
                : h.layout() == Layout.MODEL_NAME ? "model '" + h.modelName() + "', embedded tokenizer.model"
                : "float32, no tokenizer") + (transposedCount > 0 ? "; " + transposedCount
                + " transposed matrices copied to row-major order" : "") + ")";
        return new ModelFile(format, path, config, tensors, tokenizer, metadata, arena);
    }

    /** A name padded with spaces to a multiple of 4 bytes (lumi always adds 1 to 4). */
    private static String paddedString(LittleEndianReader r, long at, int length, String what) {
        if (length < 1 || length > MAX_NAME || length % 4 != 0) {
            throw r.bad(what + " length " + Integer.toUnsignedString(length) + " at offset " + (at - 4)
                    + " (expected a multiple of 4, at most " + MAX_NAME + ")");
        }
        byte[] bytes = r.bytes(at, length);
        for (byte b : bytes) {
            if (b < 0x20 || b > 0x7e) {
                throw r.bad(what + " at offset " + at + " is not printable ASCII");
            }
        }
        return new String(bytes, StandardCharsets.US_ASCII).stripTrailing();
    }
}
