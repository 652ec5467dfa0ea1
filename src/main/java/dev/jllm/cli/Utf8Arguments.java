package dev.jllm.cli;

import dev.jllm.tokenizer.RawUtf8;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command-line arguments as UTF-8, whatever the locale. The JVM decodes them with the locale's charset: under
 * {@code LC_ALL=C} a prompt of {@code café} arrives as {@code caf} and two U+FFFD, and bytes that are not UTF-8
 * become U+FFFD under any locale. On Linux the bytes the shell passed are in {@code /proc/self/cmdline}: read there as
 * UTF-8, with bytes that are not UTF-8 kept ({@link RawUtf8}) so that a prompt's tokens are its bytes.
 */
final class Utf8Arguments {

    private Utf8Arguments() {
    }

    /** The arguments re-read from the process's own command line, or {@code args} when that cannot be done safely. */
    static String[] recover(String[] args) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(Path.of("/proc/self/cmdline"));
        } catch (IOException | RuntimeException e) {
            return args; // not Linux
        }
        List<byte[]> all = split(raw);
        if (all.size() < args.length) {
            return args;
        }
        List<byte[]> tail = all.subList(all.size() - args.length, all.size());
        String[] recovered = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            recovered[i] = RawUtf8.decode(tail.get(i));
            if (!asciiOf(recovered[i]).equals(asciiOf(args[i]))) {
                return args; // not the arguments we were given (a launcher that rewrote them): keep the JVM's
            }
        }
        return recovered;
    }

    /** One warning when any argument held bytes that are not UTF-8. */
    static void warnIfInvalid(String[] args, PrintStream err) {
        for (String arg : args) {
            if (RawUtf8.hasEscapedBytes(arg)) {
                err.println("jllm: warning: an argument is not valid UTF-8; its other bytes are kept as they are"
                        + " (byte tokens in a prompt)");
                return;
            }
        }
    }

    /** NUL-terminated strings. */
    private static List<byte[]> split(byte[] raw) {
        List<byte[]> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == 0) {
                parts.add(java.util.Arrays.copyOfRange(raw, start, i));
                start = i + 1;
            }
        }
        if (start < raw.length) {
            parts.add(java.util.Arrays.copyOfRange(raw, start, raw.length));
        }
        return parts;
    }

    /** The ASCII characters of {@code s} but '?': what every locale's decoding agrees on ('?' may stand for others). */
    private static String asciiOf(String s) {
        StringBuilder ascii = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < 0x80 && s.charAt(i) != '?') {
                ascii.append(s.charAt(i));
            }
        }
        return ascii.toString();
    }
}
