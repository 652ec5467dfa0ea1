package dev.jllm.format.llama2c;

import dev.jllm.format.ModelFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The header of a llama2.c checkpoint, in any of its three versions.
 *
 * <ul>
 *   <li>version 0 (legacy, {@code run.c}): 7 int32 at offset 0; a negative {@code vocab_size} means the classifier
 *       is not shared with the embedding.</li>
 *   <li>versions 1 and 2 ({@code export.py}): uint32 magic "ak42", int32 version, the 7 int32, uint8
 *       {@code shared_classifier}, for version 2 an int32 group size (at byte 37, unaligned), zero padding to 256.</li>
 * </ul>
 *
 * @param vocabSize the raw header value (negative in a legacy file with an unshared classifier)
 * @param groupSize the quantization group size (version 2), 0 otherwise
 */
record Llama2cHeader(int version, int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocabSize,
        int seqLen, boolean sharedClassifier, int groupSize) {

    /** "ak42" read as a little-endian uint32. */
    static final int MAGIC = 0x616b3432;
    static final int LEGACY_BYTES = 7 * 4;
    static final int EXPORT_BYTES = 256;

    // Bounds that no real model comes near; they keep every size computation far from long overflow.
    static final int MAX_WIDTH = 1 << 20;
    static final int MAX_LAYERS = 1 << 12;
    static final int MAX_VOCAB = 1 << 24;
    static final int MAX_SEQ_LEN = 1 << 24;

    int vocabRows() {
        return Math.abs(vocabSize);
    }

    int headDim() {
        return dim / heads;
    }

    int kvDim() {
        return kvHeads * headDim();
    }

    int headerBytes() {
        return version == 0 ? LEGACY_BYTES : EXPORT_BYTES;
    }

    String formatName() {
        return version == 0 ? "llama2.c legacy" : "llama2.c v" + version;
    }

    /** The header fields as a user would want to read them in an error message. */
    String describe() {
        return formatName() + " header (dim " + dim + ", hidden_dim " + hiddenDim + ", n_layers " + layers
                + ", n_heads " + heads + ", n_kv_heads " + kvHeads + ", vocab_size " + vocabSize + ", seq_len " + seqLen
                + (version == 0 ? "" : ", shared_classifier " + (sharedClassifier ? 1 : 0))
                + (version == 2 ? ", group_size " + groupSize : "") + ")";
    }

    /** Whether the first bytes of a file start with the export magic. */
    static boolean hasMagic(ByteBuffer start) {
        return start.limit() >= 4 && start.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt(0) == MAGIC;
    }

    /**
     * Parses and validates the header from the first bytes of a file ({@code start} holds
     * {@code min(fileSize, 256)} bytes).
     */
    static Llama2cHeader parse(Path path, ByteBuffer start, long fileSize) {
        ByteBuffer b = start.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        Llama2cHeader header;
        if (hasMagic(b)) {
            if (fileSize < EXPORT_BYTES) {
                throw new ModelFormatException(path + ": file is truncated: " + fileSize
                        + " bytes, shorter than the " + EXPORT_BYTES + "-byte llama2.c export header");
            }
            int version = b.getInt(4);
            if (version != 1 && version != 2) {
                throw new ModelFormatException(path + ": unsupported llama2.c export version " + version
                        + " (expected 1 or 2)");
            }
            int shared = Byte.toUnsignedInt(b.get(36));
            if (shared > 1) {
                throw new ModelFormatException(path + ": shared_classifier flag is " + shared + " (expected 0 or 1)");
            }
            int groupSize = version == 2 ? b.getInt(37) : 0;
            header = new Llama2cHeader(version, b.getInt(8), b.getInt(12), b.getInt(16), b.getInt(20), b.getInt(24),
                    b.getInt(28), b.getInt(32), shared == 1, groupSize);
        } else {
            if (fileSize < LEGACY_BYTES) {
                throw new ModelFormatException(path + ": file is truncated: " + fileSize
                        + " bytes, shorter than the " + LEGACY_BYTES + "-byte llama2.c header");
            }
            int vocab = b.getInt(20);
            header = new Llama2cHeader(0, b.getInt(0), b.getInt(4), b.getInt(8), b.getInt(12), b.getInt(16), vocab,
                    b.getInt(24), vocab > 0, 0);
        }
        header.validate(path);
        return header;
    }

    private void validate(Path path) {
        checkRange(path, "dim", dim, MAX_WIDTH);
        checkRange(path, "hidden_dim", hiddenDim, MAX_WIDTH);
        checkRange(path, "n_layers", layers, MAX_LAYERS);
        checkRange(path, "n_heads", heads, dim);
        checkRange(path, "n_kv_heads", kvHeads, heads);
        if (version == 0) {
            if (vocabSize == 0 || vocabSize < -MAX_VOCAB || vocabSize > MAX_VOCAB) {
                throw bad(path, "vocab_size = " + vocabSize + " is out of range (expected 1.." + MAX_VOCAB
                        + ", negative for an unshared classifier)");
            }
        } else {
            checkRange(path, "vocab_size", vocabSize, MAX_VOCAB);
        }
        checkRange(path, "seq_len", seqLen, MAX_SEQ_LEN);
        if (dim % heads != 0) {
            throw bad(path, "dim " + dim + " is not divisible by n_heads " + heads);
        }
        if (heads % kvHeads != 0) {
            throw bad(path, "n_heads " + heads + " is not divisible by n_kv_heads " + kvHeads);
        }
        if (headDim() % 2 != 0) {
            throw bad(path, "head size dim / n_heads = " + headDim() + " is odd (RoPE rotates pairs; expected even)");
        }
        if (version == 2) {
            if (groupSize <= 0 || groupSize > dim) {
                throw bad(path, "group_size = " + groupSize + " is out of range (expected 1.." + dim + ")");
            }
            // export.py requires it (its backoff halves the group size until it does). Every quantized tensor has dim
            // values along one side, so each holds whole groups; a w2 row of hidden_dim values need not (the groups
            // follow the flattened tensor, see GroupedQ8Type).
            if (dim % groupSize != 0) {
                throw bad(path, "group_size " + groupSize + " does not divide dim " + dim);
            }
        }
    }

    private void checkRange(Path path, String field, int value, int max) {
        if (value < 1 || value > max) {
            throw bad(path, field + " = " + value + " is out of range (expected 1.." + max + ")");
        }
    }

    private ModelFormatException bad(Path path, String what) {
        return new ModelFormatException(path + ": invalid " + formatName() + " header: " + what);
    }
}
