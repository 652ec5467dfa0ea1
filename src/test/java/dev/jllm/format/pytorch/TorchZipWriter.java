package dev.jllm.format.pytorch;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Writes zip archives the way {@code torch.save} does (stored entries, data descriptors, entries aligned to 64
 * bytes, zip64 end records), and, on request, the ways a hostile file may lie: a compressed entry, a local header
 * that names another entry or another method, a data descriptor or extra length that disagrees.
 */
public final class TorchZipWriter {

    /** A lie an entry's local header or data tells. */
    public enum Lie { NONE, COMPRESSED, LOCAL_NAME, LOCAL_METHOD, DESCRIPTOR_SIZE, LOCAL_EXTRA_LENGTH }

    private record Item(String name, byte[] data, Lie lie) {
    }

    private final List<Item> items = new ArrayList<>();
    private final String record;
    private boolean zip64;

    /** @param record the archive's top-level folder (torch uses the file's name without extension) */
    public TorchZipWriter(String record) {
        this.record = record;
    }

    /** The standard records of a checkpoint around a pickle: data.pkl, byteorder, version. */
    public static TorchZipWriter checkpoint(String record, byte[] pickle) {
        TorchZipWriter w = new TorchZipWriter(record);
        w.add("data.pkl", pickle);
        w.add("byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        return w;
    }

    /**
     * Writes sizes and offsets as zip64 does for files above 4 GB: the central directory's fields saturated and the
     * values in a zip64 extra field, 64-bit sizes in the data descriptors.
     */
    public TorchZipWriter zip64() {
        zip64 = true;
        return this;
    }

    public TorchZipWriter add(String name, byte[] data) {
        return add(name, data, Lie.NONE);
    }

    public TorchZipWriter add(String name, byte[] data, Lie lie) {
        items.add(new Item(record + "/" + name, data, lie));
        return this;
    }

    /** A storage entry holding little-endian floats. */
    public TorchZipWriter floats(String key, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return add("data/" + key, b.array());
    }

    public byte[] toBytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream central = new ByteArrayOutputStream();
        for (Item item : items) {
            byte[] name = item.name().getBytes(StandardCharsets.UTF_8);
            byte[] stored = item.data();
            int method = 0;
            if (item.lie() == Lie.COMPRESSED) {
                Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
                deflater.setInput(item.data());
                deflater.finish();
                byte[] buf = new byte[item.data().length + 64];
                int n = deflater.deflate(buf);
                stored = java.util.Arrays.copyOf(buf, n);
                method = 8;
            }
            CRC32 crc = new CRC32();
            crc.update(item.data());
            long offset = out.size();
            // pad the extra field so the data starts at a multiple of 64, as torch does
            int extra = (int) ((64 - (offset + 30 + name.length + 4) % 64) % 64) + 4;
            byte[] localName = item.lie() == Lie.LOCAL_NAME ? (item.name().replace("data", "dada"))
                    .getBytes(StandardCharsets.UTF_8) : name;
            ByteBuffer local = le(30);
            local.putInt(0x04034b50).putShort((short) 20).putShort((short) 0x0808)
                    .putShort((short) (item.lie() == Lie.LOCAL_METHOD ? 8 : method)).putShort((short) 0)
                    .putShort((short) 0).putInt(0).putInt(0).putInt(0).putShort((short) localName.length)
                    .putShort((short) (item.lie() == Lie.LOCAL_EXTRA_LENGTH ? extra + 8 : extra));
            out.writeBytes(local.array());
            out.writeBytes(localName);
            ByteBuffer pad = le(extra);
            pad.putShort((short) 0x4246).putShort((short) (extra - 4));
            out.writeBytes(pad.array());
            out.writeBytes(stored);
            int lie = item.lie() == Lie.DESCRIPTOR_SIZE ? 64 : 0;
            ByteBuffer descriptor = le(zip64 ? 24 : 16);
            descriptor.putInt(0x08074b50).putInt((int) crc.getValue());
            if (zip64) {
                descriptor.putLong(stored.length + lie).putLong(item.data().length + lie);
            } else {
                descriptor.putInt(stored.length + lie).putInt(item.data().length + lie);
            }
            out.writeBytes(descriptor.array());
            ByteBuffer c = le(46);
            c.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0x0808)
                    .putShort((short) method).putShort((short) 0).putShort((short) 0).putInt((int) crc.getValue())
                    .putInt(zip64 ? -1 : stored.length + lie).putInt(zip64 ? -1 : item.data().length + lie)
                    .putShort((short) name.length).putShort((short) (zip64 ? 28 : 0)).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0).putInt(0).putInt(zip64 ? -1 : (int) offset);
            central.writeBytes(c.array());
            central.writeBytes(name);
            if (zip64) {
                central.writeBytes(le(28).putShort((short) 1).putShort((short) 24).putLong(item.data().length + lie)
                        .putLong(stored.length + lie).putLong(offset).array());
            }
        }
        long directoryOffset = out.size();
        out.writeBytes(central.toByteArray());
        long zip64End = out.size();
        ByteBuffer z = le(56);
        z.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                .putLong(items.size()).putLong(items.size()).putLong(central.size()).putLong(directoryOffset);
        out.writeBytes(z.array());
        ByteBuffer locator = le(20);
        locator.putInt(0x07064b50).putInt(0).putLong(zip64End).putInt(1);
        out.writeBytes(locator.array());
        ByteBuffer end = le(22);
        end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) items.size())
                .putShort((short) items.size()).putInt(central.size()).putInt((int) directoryOffset)
                .putShort((short) 0);
        out.writeBytes(end.array());
        return out.toByteArray();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}
