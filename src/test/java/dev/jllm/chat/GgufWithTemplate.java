package dev.jllm.chat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test helper: a copy of a GGUF file with {@code tokenizer.chat_template} added to its metadata. */
public final class GgufWithTemplate {

    private GgufWithTemplate() {
    }

    public static Path write(Path source, Path target, String template) throws IOException {
        byte[] file = Files.readAllBytes(source);
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        b.position(8);
        long tensors = b.getLong();
        long kvs = b.getLong();
        int kvStart = b.position();
        long alignment = 32;
        for (long i = 0; i < kvs; i++) {
            String key = string(b);
            int type = b.getInt();
            if (key.equals("general.alignment")) {
                alignment = b.getInt(b.position());
            }
            skipValue(b, type);
        }
        int kvEnd = b.position();
        for (long i = 0; i < tensors; i++) {
            string(b);
            int dims = b.getInt();
            b.position(b.position() + 8 * dims + 4 + 8);
        }
        int infoEnd = b.position();
        int dataStart = (int) ((infoEnd + alignment - 1) / alignment * alignment);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer header = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        header.put(file, 0, 8).putLong(tensors).putLong(kvs + 1);
        out.writeBytes(header.array());
        out.write(file, kvStart, kvEnd - kvStart);
        byte[] key = "tokenizer.chat_template".getBytes(StandardCharsets.UTF_8);
        byte[] value = template.getBytes(StandardCharsets.UTF_8);
        ByteBuffer kv = ByteBuffer.allocate(8 + key.length + 4 + 8 + value.length).order(ByteOrder.LITTLE_ENDIAN);
        kv.putLong(key.length).put(key).putInt(8).putLong(value.length).put(value);
        out.writeBytes(kv.array());
        out.write(file, kvEnd, infoEnd - kvEnd);
        while (out.size() % alignment != 0) {
            out.write(0);
        }
        out.write(file, dataStart, file.length - dataStart);
        Files.write(target, out.toByteArray());
        return target;
    }

    private static String string(ByteBuffer b) {
        int length = (int) b.getLong();
        String s = new String(b.array(), b.position(), length, StandardCharsets.UTF_8);
        b.position(b.position() + length);
        return s;
    }

    private static void skipValue(ByteBuffer b, int type) {
        switch (type) {
            case 0, 1, 7 -> b.position(b.position() + 1);
            case 2, 3 -> b.position(b.position() + 2);
            case 4, 5, 6 -> b.position(b.position() + 4);
            case 10, 11, 12 -> b.position(b.position() + 8);
            case 8 -> string(b);
            case 9 -> {
                int elementType = b.getInt();
                long count = b.getLong();
                for (long i = 0; i < count; i++) {
                    skipValue(b, elementType);
                }
            }
            default -> throw new IllegalArgumentException("GGUF value type " + type);
        }
    }
}
