package dev.jllm.format.pytorch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * The directory of a zip archive whose entries are read in place: {@code torch.save} stores every record uncompressed
 * (miniz, with data descriptors and zip64 records), so an entry's bytes are a slice of the mapped file. Nothing is
 * copied; the central directory is trusted only as far as it agrees with the local headers and data descriptors of the
 * entries that are opened, and every offset and size is checked against the file before it is used.
 */
final class StoredZip {

    private static final int LOCAL_HEADER = 0x04034b50;
    private static final int CENTRAL_HEADER = 0x02014b50;
    private static final int END_OF_DIRECTORY = 0x06054b50;
    private static final int ZIP64_END_OF_DIRECTORY = 0x06064b50;
    private static final int ZIP64_LOCATOR = 0x07064b50;
    private static final int DATA_DESCRIPTOR = 0x08074b50;
    private static final int ZIP64_EXTRA = 0x0001;
    private static final int FLAG_ENCRYPTED = 1;
    private static final int FLAG_DESCRIPTOR = 1 << 3;
    private static final long U32_SATURATED = 0xFFFFFFFFL;
    private static final int U16_SATURATED = 0xFFFF;
    private static final int CENTRAL_HEADER_BYTES = 46;
    private static final int LOCAL_HEADER_BYTES = 30;
    private static final int END_BYTES = 22;

    /** One entry as the central directory describes it. */
    record Entry(String name, long nameOffset, int nameLength, int flags, int method, long crc, long compressedSize,
            long size, long localHeaderOffset) {
    }

    private final Path path;
    private final MemorySegment file;
    private final long centralDirectoryOffset;
    private final Map<String, Entry> entries;

    private StoredZip(Path path, MemorySegment file, long centralDirectoryOffset, Map<String, Entry> entries) {
        this.path = path;
        this.file = file;
        this.centralDirectoryOffset = centralDirectoryOffset;
        this.entries = entries;
    }

    /** Whether the bytes start like a zip archive (a local file header). */
    static boolean startsLikeZip(MemorySegment start) {
        return start.byteSize() >= 4
                && start.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0)
                        == LOCAL_HEADER;
    }

    /** Reads and checks the central directory of the mapped file. */
    static StoredZip read(Path path, MemorySegment file) {
        LittleEndianReader r = reader(path, file);
        long size = file.byteSize();
        long end = findEndOfDirectory(r, size);
        if (r.u16(end + 4) != 0 || r.u16(end + 6) != 0) {
            if (r.u16(end + 4) != U16_SATURATED) {
                throw r.bad("is a multi-part zip archive (disk " + r.u16(end + 4) + "); expected one file");
            }
        }
        long count = r.u16(end + 10);
        long directorySize = r.u32(end + 12);
        long directoryOffset = r.u32(end + 16);
        long directoryLimit = end;
        if (end >= 20 && r.u32(end - 20) == ZIP64_LOCATOR) {
            long zip64End = r.u64(end - 12);
            if (zip64End < 0 || zip64End > end - 20 - 56) {
                throw r.bad("zip64 end-of-directory offset " + Long.toUnsignedString(zip64End)
                        + " is outside the file");
            }
            if (r.u32(zip64End) != ZIP64_END_OF_DIRECTORY) {
                throw r.bad("no zip64 end-of-directory record at offset " + zip64End + ", where its locator points");
            }
            if (r.u32(zip64End + 16) != 0 || r.u32(zip64End + 20) != 0) {
                throw r.bad("is a multi-part zip64 archive; expected one file");
            }
            count = agree(r, "entry count", count, U16_SATURATED, r.u64(zip64End + 32));
            directorySize = agree(r, "central directory size", directorySize, U32_SATURATED, r.u64(zip64End + 40));
            directoryOffset = agree(r, "central directory offset", directoryOffset, U32_SATURATED,
                    r.u64(zip64End + 48));
            directoryLimit = zip64End;
        } else if (count == U16_SATURATED || directorySize == U32_SATURATED || directoryOffset == U32_SATURATED) {
            throw r.bad("the end-of-directory record asks for zip64 records, which are missing");
        }
        if (directoryOffset < 0 || directorySize < 0 || directoryOffset > directoryLimit
                || directorySize > directoryLimit - directoryOffset) {
            throw r.bad("central directory [" + Long.toUnsignedString(directoryOffset) + ", +"
                    + Long.toUnsignedString(directorySize) + ") is outside the " + size + "-byte file");
        }
        if (count < 0 || count > directorySize / CENTRAL_HEADER_BYTES) {
            throw r.bad("claims " + Long.toUnsignedString(count) + " entries, more than a " + directorySize
                    + "-byte central directory can hold");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        long p = directoryOffset;
        long directoryEnd = directoryOffset + directorySize;
        for (long i = 0; i < count; i++) {
            if (directoryEnd - p < CENTRAL_HEADER_BYTES || r.u32(p) != CENTRAL_HEADER) {
                throw r.bad("central directory entry " + i + " (at offset " + p + ") is missing or damaged");
            }
            int flags = r.u16(p + 8);
            int method = r.u16(p + 10);
            long crc = r.u32(p + 16);
            long compressed = r.u32(p + 20);
            long uncompressed = r.u32(p + 24);
            int nameLength = r.u16(p + 28);
            int extraLength = r.u16(p + 30);
            int commentLength = r.u16(p + 32);
            long localOffset = r.u32(p + 42);
            long next = p + CENTRAL_HEADER_BYTES + nameLength + extraLength + commentLength;
            if (next > directoryEnd) {
                throw r.bad("central directory entry " + i + " runs past the end of the directory");
            }
            String name = new String(r.bytes(p + CENTRAL_HEADER_BYTES, nameLength), StandardCharsets.UTF_8);
            long[] zip64 = zip64Values(r, p + CENTRAL_HEADER_BYTES + nameLength, extraLength,
                    uncompressed == U32_SATURATED, compressed == U32_SATURATED, localOffset == U32_SATURATED, name);
            if (uncompressed == U32_SATURATED) {
                uncompressed = zip64[0];
            }
            if (compressed == U32_SATURATED) {
                compressed = zip64[1];
            }
            if (localOffset == U32_SATURATED) {
                localOffset = zip64[2];
            }
            if (entries.put(name, new Entry(name, p + CENTRAL_HEADER_BYTES, nameLength, flags, method, crc, compressed,
                    uncompressed, localOffset))
                    != null) {
                throw r.bad("names entry '" + name + "' twice");
            }
            p = next;
        }
        return new StoredZip(path, file, directoryOffset, entries);
    }

    private static long agree(LittleEndianReader r, String what, long classic, long saturated, long zip64) {
        if (classic != saturated && classic != zip64) {
            throw r.bad("the end-of-directory record and the zip64 record disagree on the " + what + " (" + classic
                    + " and " + Long.toUnsignedString(zip64) + ")");
        }
        return zip64;
    }

    /** The end-of-central-directory record: the last one whose comment reaches exactly to the end of the file. */
    private static long findEndOfDirectory(LittleEndianReader r, long size) {
        if (size < END_BYTES) {
            throw r.bad("file is " + size + " bytes, too short for a zip archive (truncated?)");
        }
        long lowest = Math.max(0, size - END_BYTES - U16_SATURATED);
        for (long p = size - END_BYTES; p >= lowest; p--) {
            if (r.u32(p) == END_OF_DIRECTORY && p + END_BYTES + r.u16(p + 20) == size) {
                return p;
            }
        }
        throw r.bad("no zip end-of-directory record (the file is truncated or not a zip archive)");
    }

    /** The zip64 extended-information values (size, compressed size, local offset) a header's extra field holds. */
    private static long[] zip64Values(LittleEndianReader r, long extra, int length, boolean wantSize,
            boolean wantCompressed, boolean wantOffset, String name) {
        long[] values = new long[3];
        if (!wantSize && !wantCompressed && !wantOffset) {
            return values;
        }
        long p = extra;
        long end = extra + length;
        while (end - p >= 4) {
            int id = r.u16(p);
            int fieldLength = r.u16(p + 2);
            if (p + 4 + fieldLength > end) {
                break;
            }
            if (id == ZIP64_EXTRA) {
                long q = p + 4;
                long fieldEnd = q + fieldLength;
                boolean[] wanted = {wantSize, wantCompressed, wantOffset};
                for (int i = 0; i < 3; i++) {
                    if (wanted[i]) {
                        if (fieldEnd - q < 8) {
                            throw r.bad("entry '" + name + "': zip64 extra field is too short");
                        }
                        values[i] = r.u64(q);
                        if (values[i] < 0) {
                            throw r.bad("entry '" + name + "': zip64 value " + Long.toUnsignedString(values[i])
                                    + " is out of range");
                        }
                        q += 8;
                    }
                }
                return values;
            }
            p += 4 + fieldLength;
        }
        throw r.bad("entry '" + name + "' needs zip64 sizes or offset but has no zip64 extra field");
    }

    private static LittleEndianReader reader(Path path, MemorySegment file) {
        return new LittleEndianReader(path, file, "bad PyTorch zip archive");
    }

    Path path() {
        return path;
    }

    Map<String, Entry> entries() {
        return entries;
    }

    /**
     * The bytes of an entry, in place. The entry must be stored, unencrypted, and its local header and data
     * descriptor must agree with the central directory; its data must lie before the central directory.
     */
    MemorySegment open(Entry e) {
        LittleEndianReader r = reader(path, file);
        String what = "entry '" + e.name() + "'";
        if ((e.flags() & FLAG_ENCRYPTED) != 0) {
            throw r.bad(what + " is encrypted");
        }
        if (e.method() != 0) {
            throw r.bad(what + " is compressed (method " + e.method() + (e.method() == 8 ? ", deflate" : "")
                    + "); PyTorch stores entries uncompressed so they can be mapped in place");
        }
        if (e.compressedSize() != e.size()) {
            throw r.bad(what + " is stored but its compressed size " + e.compressedSize() + " differs from its size "
                    + e.size());
        }
        long local = e.localHeaderOffset();
        if (local > centralDirectoryOffset - LOCAL_HEADER_BYTES) {
            throw r.bad(what + ": local header offset " + local + " is not before the central directory at "
                    + centralDirectoryOffset);
        }
        if (r.u32(local) != LOCAL_HEADER) {
            throw r.bad(what + ": no local header at offset " + local);
        }
        int localFlags = r.u16(local + 6);
        int localMethod = r.u16(local + 8);
        int nameLength = r.u16(local + 26);
        int extraLength = r.u16(local + 28);
        if (localMethod != e.method()) {
            throw r.bad(what + ": the local header says method " + localMethod
                    + ", the central directory says " + e.method());
        }
        long nameAt = local + LOCAL_HEADER_BYTES;
        if (nameLength != e.nameLength() || nameAt + nameLength > centralDirectoryOffset
                || MemorySegment.mismatch(file, nameAt, nameAt + nameLength, file, e.nameOffset(),
                        e.nameOffset() + nameLength) != -1) {
            throw r.bad(what + ": the local header names another entry");
        }
        long data = nameAt + nameLength + extraLength;
        if (data > centralDirectoryOffset || e.size() > centralDirectoryOffset - data) {
            throw r.bad(what + ": its " + e.size() + " bytes at offset " + data
                    + " run past the start of the central directory at " + centralDirectoryOffset);
        }
        if ((localFlags & FLAG_DESCRIPTOR) != (e.flags() & FLAG_DESCRIPTOR)) {
            throw r.bad(what + ": the local header and the central directory disagree on the data descriptor flag");
        }
        long localCrc = r.u32(local + 14);
        long localCompressed = r.u32(local + 18);
        long localSize = r.u32(local + 22);
        if ((localFlags & FLAG_DESCRIPTOR) == 0) {
            if (localCompressed == U32_SATURATED || localSize == U32_SATURATED) {
                long[] zip64 = zip64Values(r, nameAt + nameLength, extraLength, localSize == U32_SATURATED,
                        localCompressed == U32_SATURATED, false, e.name());
                localSize = localSize == U32_SATURATED ? zip64[0] : localSize;
                localCompressed = localCompressed == U32_SATURATED ? zip64[1] : localCompressed;
            }
            if (localCrc != e.crc() || localCompressed != e.compressedSize() || localSize != e.size()) {
                throw r.bad(what + ": the local header (crc " + Long.toHexString(localCrc) + ", " + localSize
                        + " bytes) disagrees with the central directory (crc " + Long.toHexString(e.crc()) + ", "
                        + e.size() + " bytes)");
            }
        } else {
            checkDescriptor(r, e, data + e.size(), what);
        }
        return file.asSlice(data, e.size());
    }

    /** The data descriptor after the data must repeat the central directory's crc and sizes (32- or 64-bit). */
    private void checkDescriptor(LittleEndianReader r, Entry e, long at, String what) {
        long p = at;
        if (p + 4 <= centralDirectoryOffset && r.u32(p) == DATA_DESCRIPTOR) {
            p += 4;
        }
        if (p + 12 <= centralDirectoryOffset && r.u32(p) == e.crc() && r.u32(p + 4) == e.compressedSize()
                && r.u32(p + 8) == e.size()) {
            return;
        }
        if (p + 20 <= centralDirectoryOffset && r.u32(p) == e.crc() && r.u64(p + 4) == e.compressedSize()
                && r.u64(p + 12) == e.size()) {
            return;
        }
        throw r.bad(what + ": the data descriptor after its " + e.size()
                + " bytes does not repeat the central directory's crc and size (a local header or size that lies)");
    }

    /** Checks a small entry's CRC-32 (the pickle and the little text records; storages are not read at load). */
    void checkCrc(Entry e, MemorySegment data) {
        CRC32 crc = new CRC32();
        crc.update(data.asByteBuffer());
        if (crc.getValue() != e.crc()) {
            throw reader(path, file).bad("entry '" + e.name() + "' fails its CRC-32 check (crc "
                    + Long.toHexString(crc.getValue()) + ", expected " + Long.toHexString(e.crc()) + ")");
        }
    }
}
