package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * jllm in its own JVM, for what an in-process run cannot show: the Java heap a context needs (issue 14, item 3) and
 * the locale the process starts with (item 4).
 */
class JllmProcessTest {

    record Result(int code, String out, String err, double seconds) {
    }

    /** Runs {@code java [jvmOptions] dev.jllm.cli.Main ARGS} through bash, with {@code env} added to the environment. */
    static Result jllm(Map<String, String> env, List<String> jvmOptions, String bashArgs) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", classpath, "dev.jllm.cli.Main"));
        StringBuilder line = new StringBuilder("exec");
        for (String part : command) {
            line.append(" '").append(part.replace("'", "'\\''")).append('\'');
        }
        // bash passes the arguments' bytes as written (printf escapes), whatever this JVM's own encoding
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", line + " " + bashArgs);
        pb.environment().remove("LC_ALL");
        pb.environment().remove("LC_CTYPE");
        pb.environment().remove("LANG");
        pb.environment().putAll(env);
        long t0 = System.nanoTime();
        Process p = pb.start();
        p.getOutputStream().close();
        var out = p.getInputStream();
        var err = p.getErrorStream();
        byte[][] streams = new byte[2][];
        Thread errReader = Thread.ofVirtual().start(() -> {
            try {
                streams[1] = err.readAllBytes();
            } catch (IOException e) {
                streams[1] = e.toString().getBytes(StandardCharsets.UTF_8);
            }
        });
        streams[0] = out.readAllBytes();
        errReader.join();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "jllm did not end");
        return new Result(p.exitValue(), new String(streams[0], StandardCharsets.UTF_8),
                new String(streams[1], StandardCharsets.UTF_8).replaceAll("(?m)^WARNING: Using incubator modules.*\n", ""),
                (System.nanoTime() - t0) / 1e9);
    }

    private static String quoted(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    /**
     * {@code --ctx-size 10000000} used to allocate for 20 s, take 5.8 GB and end in OutOfMemoryError with a stack
     * trace. Now the KV cache is sized first: one line with the size needed, the memory available and a --ctx-size that
     * fits; and that context then runs.
     */
    @Test
    void aContextTooLargeForTheHeapIsRefusedInOneLine() throws Exception {
        String model = quoted(SharedData.model("stories260K.gguf").toString());
        Result r = jllm(Map.of(), List.of("-Xmx256m"), "generate -m " + model + " --ctx-size 10000000 -p hi -n 1");
        assertEquals(2, r.code(), r.err());
        List<String> errors = r.err().lines().filter(l -> !l.contains("warning:")).toList();
        assertEquals(1, errors.size(), r.err());
        Matcher m = Pattern.compile("jllm: a context of 10000000 tokens needs a KV cache of 6\\.0 GiB \\(f16\\) but"
                + " [0-9.]+ MiB of memory is available \\(Java heap, -Xmx\\); use --ctx-size (\\d+) or less").matcher(errors.get(0));
        assertTrue(m.matches(), errors.get(0));
        assertFalse(r.err().contains("OutOfMemoryError") || r.err().contains("\tat "), r.err());

        int fits = Integer.parseInt(m.group(1));
        assertTrue(fits > 100_000, "a useful suggestion: " + fits);
        Result ok = jllm(Map.of(), List.of("-Xmx256m"), "generate -m " + model + " --ctx-size " + fits
                + " -p 'Once upon a time' --temp 0 -n 4");
        assertEquals(0, ok.code(), "the suggested --ctx-size runs: " + ok.err());
        assertTrue(ok.out().startsWith("Once upon a time, there was"), ok.out());
    }

    /**
     * Under {@code LC_ALL=C}, {@code -p café} used to reach the tokenizer as "caf" and two U+FFFD; and bytes that are
     * not UTF-8 became U+FFFD under any locale. Now arguments are UTF-8 whatever the locale, and other bytes stay bytes
     * (byte tokens), with one warning.
     */
    @Test
    void argumentsAreUtf8WhateverTheLocale() throws Exception {
        String model = quoted(SharedData.model("stories260K.gguf").toString());
        String cafe = "\"$(printf 'caf\\xc3\\xa9')\"";
        Result utf8 = jllm(Map.of("LC_ALL", "C.UTF-8"), List.of(), "tokenize -m " + model + " -p " + cafe + " --ids");
        Result c = jllm(Map.of("LC_ALL", "C"), List.of(), "tokenize -m " + model + " -p " + cafe + " --ids");
        Result posix = jllm(Map.of(), List.of(), "tokenize -m " + model + " -p " + cafe + " --ids");
        assertEquals(0, c.code(), c.err());
        assertEquals("[1, 280, 412, 431, 485]", utf8.out().strip(), "the tokens of café");
        assertEquals(utf8.out(), c.out(), "LC_ALL=C");
        assertEquals(utf8.out(), posix.out(), "no locale at all");
        assertFalse(c.err().contains("warning"), c.err());

        Result generated = jllm(Map.of("LC_ALL", "C"), List.of(), "generate -m " + model + " -p " + cafe
                + " --temp 0 -n 3");
        assertTrue(generated.out().startsWith("café"), "the prompt comes back as typed: " + generated.out());

        // Latin-1 é (0xE9) is not UTF-8: it stays the byte, as the byte token <0xE9>, with one warning
        Result latin1 = jllm(Map.of("LC_ALL", "C.UTF-8"), List.of(), "tokenize -m " + model + " -p \"$(printf 'caf\\xe9')\"");
        assertEquals(0, latin1.code(), latin1.err());
        assertTrue(latin1.out().contains("   236 -> '\\xE9'"), latin1.out());
        assertEquals(1, latin1.err().lines().filter(l -> l.contains("warning: an argument is not valid UTF-8")).count(),
                latin1.err());
    }
}
