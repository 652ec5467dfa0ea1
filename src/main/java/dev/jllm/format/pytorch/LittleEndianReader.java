package dev.jllm.format.pytorch;

import dev.jllm.format.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Little-endian reads from a mapped file that fail with a one-line error naming the file (and what kind of file it
 * was meant to be) instead of an index exception: the headers of zip archives and lumi files are read with it.
 *
 * @param kind how errors describe the file, e.g. {@code bad PyTorch zip archive}
 */
public record LittleEndianReader(Path path, MemorySegment file, String kind) {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Maps a whole file read-only into {@code arena}; a missing or unreadable file is a one-line error. */
    public static MemorySegment map(Path path, Arena arena) {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(path + ": no such file");
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read: " + e.getMessage(), e);
        }
    }

    public long size() {
        return file.byteSize();
    }

    public int u16(long at) {
        check(at, 2);
        return Short.toUnsignedInt(file.get(U16, at));
    }

    public int i32(long at) {
        check(at, 4);
        return file.get(I32, at);
    }

    public long u32(long at) {
        return Integer.toUnsignedLong(i32(at));
    }

    /** An unsigned 64-bit value; above Long.MAX_VALUE it reads as negative, which callers refuse. */
    public long u64(long at) {
        check(at, 8);
        return file.get(I64, at);
    }

    public float f32(long at) {
        check(at, 4);
        return file.get(F32, at);
    }

    public byte[] bytes(long at, int length) {
        check(at, length);
        return file.asSlice(at, length).toArray(ValueLayout.JAVA_BYTE);
    }

    public void check(long at, long length) {
        if (at < 0 || length < 0 || at > file.byteSize() - length) {
            throw bad("reading " + length + " bytes at offset " + at + " runs past the end of the "
                    + file.byteSize() + "-byte file (truncated?)");
        }
    }

    public ModelFormatException bad(String problem) {
        return new ModelFormatException(path + ": " + kind + ": " + problem);
    }
}
