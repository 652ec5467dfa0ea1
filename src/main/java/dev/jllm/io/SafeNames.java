package dev.jllm.io;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * File names made from strings jllm did not choose (a tensor name read from a model file): one path segment that can
 * only name a file inside the folder it is resolved in. Letters, digits, {@code '.'}, {@code '_'} and {@code '-'} stay
 * as they are, so ordinary names ({@code blk.0.attn_q.weight}, {@code model.layers.0.mlp.up_proj.weight}) are
 * unchanged; every other byte of the UTF-8 encoding, and a leading dot, is written {@code %XX}. The escaping is
 * one-to-one ({@code %} itself becomes {@code %25}), so different names never share a file. A name longer than
 * {@value #MAX_CHARS} characters after escaping is cut and ends with a hash of the whole name, which keeps it unique.
 */
public final class SafeNames {

    /** Room for an extension such as {@code .json} within the usual 255-byte limit of a file name. */
    static final int MAX_CHARS = 200;

    private SafeNames() {
    }

    /** A file name that stands for {@code name}: never empty, never {@code .} or {@code ..}, no separator. */
    public static String fileName(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        StringBuilder b = new StringBuilder(bytes.length + 8);
        for (int i = 0; i < bytes.length; i++) {
            int c = bytes[i] & 0xff;
            boolean plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
                    || c == '-' || (c == '.' && i > 0);
            if (plain) {
                b.append((char) c);
            } else {
                b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
        if (b.isEmpty()) {
            return "%"; // the empty name; no other name escapes to a lone '%'
        }
        if (b.length() > MAX_CHARS) {
            String hash = HexFormat.of().formatHex(sha256(bytes), 0, 8);
            return b.substring(0, MAX_CHARS - hash.length() - 1) + "~" + hash;
        }
        return b.toString();
    }

    /**
     * {@code dir.resolve(name)} for a name that must be one file directly inside {@code dir}; throws when the name
     * would reach anywhere else (a separator, {@code ..}, an absolute path, a control character).
     */
    public static Path inside(Path dir, String name) {
        boolean ok = !name.isEmpty() && !name.equals(".") && !name.equals("..") && name.indexOf('/') < 0
                && name.indexOf('\\') < 0 && name.indexOf('\0') < 0;
        for (int i = 0; ok && i < name.length(); i++) {
            ok = !Character.isISOControl(name.charAt(i));
        }
        Path p = ok ? dir.resolve(name).normalize() : null;
        if (p == null || !dir.normalize().equals(p.getParent())) {
            throw new IllegalArgumentException("'" + Printable.escape(name) + "' is not a file name inside " + dir);
        }
        return p;
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
