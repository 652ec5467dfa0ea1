package dev.jllm.format.pytorch;

import dev.jllm.format.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint written by {@code torch.save} (PyTorch 1.6 and later): a zip archive whose one top-level folder holds
 * {@code data.pkl} (the pickled object), {@code data/KEY} (one entry per storage), {@code byteorder} and
 * {@code version}. The file is memory-mapped once; the pickle is read in place by {@link Unpickler}, which runs
 * nothing, and every storage it names becomes a {@link TorchStorage} over its entry's bytes. Tensors come back as
 * {@link TorchTensor} views; nothing is copied.
 */
public final class TorchArchive {

    /** How much more than the file's size the pickle's values may take (small test files, fixed costs). */
    static final long BUDGET_SLACK = 64 * 1024;

    /** The start of a pre-1.6 {@code torch.save} file: protocol 2, then LONG1 of the magic number 0x1950a86a20f9469cfc6c. */
    private static final byte[] LEGACY_MAGIC = {(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c,
        0x46, (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19};

    private final Path path;
    private final String record;
    private final Object root;
    private final Map<String, TorchStorage> storages;
    private final String version;

    private TorchArchive(Path path, String record, Object root, Map<String, TorchStorage> storages, String version) {
        this.path = path;
        this.record = record;
        this.root = root;
        this.storages = storages;
        this.version = version;
    }

    /** Whether the file starts like a zip archive (how {@code torch.save} files start). */
    public static boolean isZip(Path path) {
        byte[] head = head(path, 4);
        return head.length == 4 && StoredZip.startsLikeZip(MemorySegment.ofArray(head));
    }

    /** Whether the file is a legacy (before PyTorch 1.6) {@code torch.save} file, which is a bare pickle stream. */
    public static boolean isLegacyTorch(Path path) {
        return java.util.Arrays.equals(head(path, LEGACY_MAGIC.length), LEGACY_MAGIC);
    }

    private static byte[] head(Path path, int n) {
        if (!Files.isRegularFile(path)) {
            return new byte[0];
        }
        try (var in = Files.newInputStream(path)) {
            return in.readNBytes(n);
        } catch (IOException e) {
            return new byte[0];
        }
    }

    /** Maps and reads a checkpoint; its storages live as long as {@code arena}. */
    public static TorchArchive open(Path path, Arena arena) {
        MemorySegment file = LittleEndianReader.map(path, arena);
        if (!StoredZip.startsLikeZip(file.asSlice(0, Math.min(4, file.byteSize())))) {
            if (isLegacyTorch(path)) {
                throw new ModelFormatException(path + ": a legacy PyTorch file (saved before PyTorch 1.6 or with"
                        + " _use_new_zipfile_serialization=False); jllm reads the zip format torch.save writes today");
            }
            throw new ModelFormatException(path + ": not a PyTorch checkpoint (expected a zip archive)");
        }
        StoredZip zip = StoredZip.read(path, file);
        String record = recordFolder(zip);
        String byteOrder = smallText(zip, record + "/byteorder");
        if (byteOrder != null && !byteOrder.equals("little")) {
            throw new ModelFormatException(path + ": storages are in '" + byteOrder
                    + "' byte order; jllm reads little-endian checkpoints");
        }
        String version = smallText(zip, record + "/version");
        StoredZip.Entry pickleEntry = zip.entries().get(record + "/data.pkl");
        MemorySegment pickle = zip.open(pickleEntry);
        zip.checkCrc(pickleEntry, pickle);
        Map<String, TorchStorage> storages = new LinkedHashMap<>();
        Unpickler unpickler = new Unpickler(path + ": " + pickleEntry.name(), pickle,
                file.byteSize() + BUDGET_SLACK, (pid, where) -> storage(zip, record, storages, pid, where));
        Object root = unpickler.load();
        return new TorchArchive(path, record, root, storages, version);
    }

    /** The one top-level folder that holds {@code data.pkl}. */
    private static String recordFolder(StoredZip zip) {
        List<String> folders = new ArrayList<>();
        for (String name : zip.entries().keySet()) {
            int slash = name.indexOf('/');
            if (slash > 0 && name.indexOf('/', slash + 1) < 0 && name.endsWith("/data.pkl")) {
                folders.add(name.substring(0, slash));
            }
        }
        if (folders.size() != 1) {
            throw new ModelFormatException(zip.path() + ": " + (folders.isEmpty()
                    ? "a zip archive without FOLDER/data.pkl, so not a PyTorch checkpoint"
                    : "a zip archive with " + folders.size() + " data.pkl records (expected one)"));
        }
        return folders.getFirst();
    }

    /** A short text record (byteorder, version), or null when the archive has none. */
    private static String smallText(StoredZip zip, String name) {
        StoredZip.Entry e = zip.entries().get(name);
        if (e == null) {
            return null;
        }
        if (e.size() > 64) {
            throw new ModelFormatException(zip.path() + ": entry '" + name + "' is " + e.size()
                    + " bytes (expected a short text)");
        }
        MemorySegment data = zip.open(e);
        zip.checkCrc(e, data);
        return new String(data.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8).strip();
    }

    /** Resolves a persistent id {@code ('storage', torch.XStorage, key, location, elements)} to its storage. */
    private static TorchStorage storage(StoredZip zip, String record, Map<String, TorchStorage> storages, Object pid,
            String where) {
        if (!(pid instanceof Pickled.Tuple t) || t.items().size() != 5 || !"storage".equals(t.items().get(0))
                || !(t.items().get(1) instanceof Pickled.Global g) || !(t.items().get(2) instanceof String key)
                || !(t.items().get(3) instanceof String) || !(t.items().get(4) instanceof Long elements)) {
            throw new ModelFormatException(where + ": persistent id " + (pid instanceof Pickled.Tuple t
                    ? "tuple of " + t.items().size() : Pickled.typeName(pid))
                    + " (expected ('storage', storage type, key, location, size))");
        }
        TorchStorageType type = g.module().equals("torch") ? TorchStorageType.byClassName(g.name()) : null;
        if (type == null) {
            throw new ModelFormatException(where + ": persistent id names " + g.qualified()
                    + ", which is not a storage type");
        }
        if (elements < 0) {
            throw new ModelFormatException(where + ": storage '" + key + "' has " + elements + " elements");
        }
        TorchStorage known = storages.get(key);
        if (known != null) {
            if (known.type() != type || known.elements() != elements) {
                throw new ModelFormatException(where + ": storage '" + key + "' is named as "
                        + known.elements() + " " + known.type().className + " elements and as " + elements + " "
                        + type.className + " elements");
            }
            return known;
        }
        StoredZip.Entry entry = zip.entries().get(record + "/data/" + key);
        if (entry == null) {
            throw new ModelFormatException(where + ": storage '" + key + "' has no entry " + record
                    + "/data/" + key + " in the archive");
        }
        MemorySegment bytes = zip.open(entry);
        long needed;
        try {
            needed = Math.multiplyExact(elements, type.elementBytes);
        } catch (ArithmeticException e) {
            needed = Long.MAX_VALUE;
        }
        if (needed > bytes.byteSize()) {
            throw new ModelFormatException(where + ": storage '" + key + "' announces " + elements + " "
                    + type.className + " elements (" + (needed == Long.MAX_VALUE ? "overflowing" : needed + " bytes")
                    + "), past the end of its " + bytes.byteSize() + "-byte entry");
        }
        TorchStorage storage = new TorchStorage(key, type, elements, bytes.asSlice(0, needed));
        storages.put(key, storage);
        return storage;
    }

    public Path path() {
        return path;
    }

    /** The pickled object: usually a dict (a state dict, or a training checkpoint holding one). */
    public Object root() {
        return root;
    }

    /** The storages the pickle names, in the order it names them. */
    public Map<String, TorchStorage> storages() {
        return java.util.Collections.unmodifiableMap(storages);
    }

    /** The archive's top-level folder (the file's name when it was saved). */
    public String record() {
        return record;
    }

    /** The {@code version} record, or null. */
    public String version() {
        return version;
    }

    /** Bytes of all storages. */
    public long storageBytes() {
        long n = 0;
        for (TorchStorage s : storages.values()) {
            n += s.data().byteSize();
        }
        return n;
    }
}
