package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code jllm} launcher script, run on a copy whose JDK is a stand-in script: it records the arguments the
 * launcher gives java and writes what the test chooses to stderr. Issue 18, item 7: the stderr filter passes a line
 * with a NUL byte and invalid UTF-8 through unchanged (grep without -a said "binary file matches" instead), and drops
 * only the JDK's incubator notice. Issue 14, item 10: java started with the launcher's flags prints no
 * {@code sun.misc.Unsafe} warnings when jllm reads a SentencePiece {@code .model} (protobuf).
 */
class LauncherTest {

    @TempDir
    Path dir;

    /** The launcher copied into {@code dir}, with a fake JDK whose java writes {@code stderr} and exits 2. */
    private Path fakeInstall(byte[] stderr) throws IOException {
        Path launcher = dir.resolve("jllm");
        Files.copy(Path.of(System.getProperty("user.dir"), "jllm"), launcher);
        Path jdk = dir.resolve("jdk");
        Files.createDirectories(jdk.resolve("bin"));
        Files.createDirectories(dir.resolve(".ci"));
        Files.writeString(dir.resolve(".ci/java-env.sh"), "export JAVA_HOME='" + jdk + "'\n");
        Files.write(dir.resolve("stderr.bin"), stderr);
        Path java = jdk.resolve("bin/java");
        Files.writeString(java, """
                #!/usr/bin/env bash
                printf '%s\\n' "$@" > "$(dirname "$0")/../../args.txt"
                cat "$(dirname "$0")/../../stderr.bin" >&2
                exit 2
                """);
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createDirectories(dir.resolve("target"));
        Files.write(dir.resolve("target/jllm.jar"), new byte[0]); // no sources beside it: nothing to build
        return launcher;
    }

    private record Run(int code, byte[] stderr) {
    }

    private static Run run(List<String> command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().remove("JLLM_JAVA_OPTS");
        Process p = pb.start();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        p.getErrorStream().transferTo(err); // to the end: the filter's output included
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Run(p.exitValue(), err.toByteArray());
    }

    @Test
    void theStderrFilterIsBinarySafe() throws Exception {
        byte[] message = "jllm: a message with a NUL \0 and a bad byte \u00ff here\n".getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes("WARNING: Using incubator modules: jdk.incubator.vector\n".getBytes(StandardCharsets.US_ASCII));
        all.writeBytes(message);
        all.writeBytes("WARNING: something else\n".getBytes(StandardCharsets.US_ASCII));
        Path launcher = fakeInstall(all.toByteArray());
        Run r = run(List.of("bash", launcher.toString(), "generate", "-p", "hi"));
        assertEquals(2, r.code(), "java's exit code comes through");
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.writeBytes(message);
        expected.writeBytes("WARNING: something else\n".getBytes(StandardCharsets.US_ASCII));
        assertArrayEquals(expected.toByteArray(), r.stderr(), new String(r.stderr(), StandardCharsets.ISO_8859_1));
    }

    @Test
    void javaStartedWithTheLaunchersFlagsPrintsNoUnsafeWarnings() throws Exception {
        Path launcher = fakeInstall(new byte[0]);
        run(List.of("bash", launcher.toString(), "tokenize"));
        List<String> flags = new ArrayList<>(Files.readAllLines(dir.resolve("args.txt")));
        int jar = flags.indexOf("-jar");
        assertTrue(jar > 0, flags.toString());
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(flags.subList(0, jar));
        command.addAll(List.of("-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                "dev.jllm.cli.Main", "tokenize", "-m", SharedData.file("vocab/llama2-tokenizer.model").toString(), "-p",
                "Hello world"));
        Run r = run(command);
        String err = new String(r.stderr(), StandardCharsets.UTF_8);
        assertEquals(0, r.code(), err);
        assertFalse(err.contains("Unsafe"), err);
        assertTrue(err.lines().allMatch(l -> l.startsWith("WARNING: Using incubator modules")),
                "only the notice the launcher filters out: " + err);
    }

    /**
     * The AOT cache: made once per jar (and JDK) by a training run, used by the runs of that jar only, remade when the
     * jar is rebuilt (the JVM itself would load a stale cache's classes), and never retried after a failed training
     * until the next build. Checked on a fake JDK whose java logs its arguments and writes the cache a training run asks
     * for (unless told to fail).
     */
    @Test
    void anAotCacheIsMadeOncePerJarAndUsedOnlyByIt() throws Exception {
        Path launcher = fakeInstall(new byte[0]);
        Path jdk = dir.resolve("jdk");
        Files.createDirectories(jdk.resolve("lib"));
        Files.write(jdk.resolve("lib/modules"), new byte[] {1});
        Files.writeString(jdk.resolve("bin/java"), """
                #!/usr/bin/env bash
                log="$(dirname "$0")/../../calls.txt"
                printf '%s\n' "$@" >> "$log"
                echo '--' >> "$log"
                for a in "$@"; do
                  case "$a" in
                    -XX:AOTCacheOutput=*)
                      [[ -f "$(dirname "$0")/../../fail-training" ]] && exit 1
                      echo cache > "${a#-XX:AOTCacheOutput=}" ;;
                  esac
                done
                exit 0
                """);
        Path calls = dir.resolve("calls.txt");

        run(List.of("bash", launcher.toString(), "tokenize"));
        List<List<String>> first = calls(calls);
        assertEquals(2, first.size(), "a training run, then the run: " + first);
        String output = first.get(0).stream().filter(a -> a.startsWith("-XX:AOTCacheOutput=")).findFirst().orElseThrow();
        assertTrue(first.get(0).contains("generate"), "the training generates with the bundled model");
        List<Path> caches = caches();
        assertEquals(1, caches.size(), caches.toString());
        assertTrue(output.startsWith("-XX:AOTCacheOutput=" + caches.get(0)), "written beside, then renamed: " + output);
        assertTrue(first.get(1).contains("-XX:AOTCache=" + caches.get(0)), first.get(1).toString());
        assertEquals("tokenize", first.get(1).get(first.get(1).size() - 1));

        Files.delete(calls);
        run(List.of("bash", launcher.toString(), "tokenize"));
        List<List<String>> second = calls(calls);
        assertEquals(1, second.size(), "no second training: " + second);
        assertTrue(second.get(0).contains("-XX:AOTCache=" + caches.get(0)), second.get(0).toString());

        // A rebuilt jar: the old cache is removed and never handed to the JVM; a new one is made for the new jar.
        Files.write(dir.resolve("target/jllm.jar"), new byte[] {1, 2, 3});
        Files.delete(calls);
        run(List.of("bash", launcher.toString(), "tokenize"));
        List<List<String>> rebuilt = calls(calls);
        assertEquals(2, rebuilt.size(), rebuilt.toString());
        List<Path> newCaches = caches();
        assertEquals(1, newCaches.size(), newCaches.toString());
        assertFalse(newCaches.equals(caches), "a new name for the new jar");
        assertFalse(String.join(" ", rebuilt.get(1)).contains(caches.get(0).toString()), rebuilt.get(1).toString());
        assertTrue(rebuilt.get(1).contains("-XX:AOTCache=" + newCaches.get(0)), rebuilt.get(1).toString());

        // A training that fails: the run goes on without a cache, and the next run does not train again.
        Files.writeString(dir.resolve("fail-training"), "");
        Files.write(dir.resolve("target/jllm.jar"), new byte[] {4, 5, 6, 7});
        Files.delete(calls);
        run(List.of("bash", launcher.toString(), "tokenize"));
        run(List.of("bash", launcher.toString(), "tokenize"));
        List<List<String>> failing = calls(calls);
        assertEquals(3, failing.size(), "one training, two runs: " + failing);
        assertFalse(String.join(" ", failing.get(1)).contains("AOTCache"), failing.get(1).toString());
        assertFalse(String.join(" ", failing.get(2)).contains("AOTCache"), failing.get(2).toString());
        assertEquals(List.of(), caches());
        try (var files = Files.list(dir.resolve("target"))) {
            assertTrue(files.noneMatch(f -> f.toString().endsWith(".tmp")), "no temporary left behind");
        }

        // JLLM_AOT=0: neither a training nor a cache.
        Files.delete(dir.resolve("fail-training"));
        Files.write(dir.resolve("target/jllm.jar"), new byte[] {8});
        Files.delete(calls);
        ProcessBuilder pb = new ProcessBuilder("bash", launcher.toString(), "tokenize")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("JLLM_AOT", "0");
        assertTrue(pb.start().waitFor(60, TimeUnit.SECONDS));
        List<List<String>> off = calls(calls);
        assertEquals(1, off.size(), off.toString());
        assertFalse(String.join(" ", off.get(0)).contains("AOTCache"), off.get(0).toString());
    }

    /** The argument lists of the fake java's calls, in order. */
    private static List<List<String>> calls(Path log) throws IOException {
        List<List<String>> calls = new ArrayList<>();
        List<String> current = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            if (line.equals("--")) {
                calls.add(current);
                current = new ArrayList<>();
            } else {
                current.add(line);
            }
        }
        return calls;
    }

    private List<Path> caches() throws IOException {
        try (var files = Files.list(dir.resolve("target"))) {
            return files.filter(f -> f.getFileName().toString().matches("jllm-.*\\.aot")).sorted().toList();
        }
    }
}
