package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18, item 5 and issue 14, item 11: jllm runs in a child JVM and is stopped in the middle of a write. SIGTERM
 * (what Ctrl-C's SIGINT also does) leaves no temporary file or folder of any writer; {@code kill -9} cannot be caught,
 * and the temporary it leaves is removed by the next run that writes the same target.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class InterruptedWritesTest {

    @TempDir
    Path dir;

    /** A 25 MiB Q8_0 model (stories15M's shape), written in-process: big enough for writes that take a while. */
    private Path source() throws IOException {
        Path in = dir.resolve("in");
        Files.createDirectories(in);
        Path model = in.resolve("s15-q8_0.gguf");
        CliTest.Result r = CliTest.run("synth", "--shape", "stories15M", "--type", "q8_0", "-o", model.toString());
        assertEquals(0, r.code(), r.err());
        return model;
    }

    @Test
    void sigtermDuringSynthLeavesNothing() throws Exception {
        Path out = dir.resolve("out");
        Files.createDirectories(out);
        Process p = start("synth", "--shape", "stories15M", "--type", "f32", "-o", out.resolve("m.gguf").toString());
        stopAtProgress(p, "synth:  10%", false);
        assertEquals(List.of(), list(out), "no temporary file after SIGTERM");
    }

    @Test
    void sigtermDuringEveryConversionLeavesNothing() throws Exception {
        Path model = source();
        for (String to : new String[] {"flatbin", "llama2c", "hf", "gguf"}) {
            Path out = dir.resolve("out-" + to);
            Files.createDirectories(out);
            Process p = start("convert", model.toString(), "--to", to, "--type", to.equals("flatbin") ? "f16" : "f32",
                    "-o", out.resolve("converted").toString());
            stopAtProgress(p, "convert:  10%", false);
            assertEquals(List.of(), list(out), to + ": no temporary file or folder after SIGTERM");
        }
    }

    @Test
    void sigtermDuringDumpLeavesNothing() throws Exception {
        Path model = source();
        Path out = dir.resolve("out");
        Files.createDirectories(out);
        Process p = start("dump", "weights", "-m", model.toString(), "-o", out.resolve("weights").toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (list(out).isEmpty()) { // the dump's temporary folder appears when it starts writing
            assertTrue(p.isAlive(), () -> "the dump ended before it could be stopped: " + errors(p));
            assertTrue(System.nanoTime() < deadline, "no temporary folder appeared");
            Thread.sleep(2);
        }
        Thread.sleep(50); // some files written into it
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(143, p.exitValue(), "ended by SIGTERM");
        assertEquals(List.of(), list(out), "no temporary folder after SIGTERM");
    }

    @Test
    void aTemporaryLeftByKillMinus9IsRemovedByTheNextRun() throws Exception {
        Path out = dir.resolve("out");
        Files.createDirectories(out);
        Path target = out.resolve("m.gguf");
        String[] args = {"synth", "--shape", "stories15M", "--type", "f32", "-o", target.toString()};
        Process p = start(args);
        stopAtProgress(p, "synth:  10%", true);
        List<Path> left = list(out);
        assertEquals(1, left.size(), "kill -9 leaves the temporary: " + left);
        assertTrue(left.getFirst().getFileName().toString().startsWith(".m.gguf."), left.toString());

        CliTest.Result r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(target), list(out), "the stale temporary of the same target is gone");

        // a stale temporary of another target is not this run's business
        Process q = start("synth", "--shape", "stories15M", "--type", "f32", "-o", out.resolve("other.gguf").toString());
        stopAtProgress(q, "synth:  10%", true);
        r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        List<Path> now = list(out);
        assertEquals(2, now.size(), now.toString());
        assertTrue(now.getFirst().getFileName().toString().startsWith(".other.gguf."), now.toString());
        r = CliTest.run("synth", "--shape", "stories15M", "--type", "q8_0", "-o", out.resolve("other.gguf").toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(target, out.resolve("other.gguf")), list(out));
    }

    /** jllm in a child JVM, as the launcher runs it (but from the test class path). */
    static Process start(String... args) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", classpath, "dev.jllm.cli.Main"));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** Reads the child's stderr until {@code line} shows, then sends SIGTERM (or SIGKILL) and waits for the end. */
    private static void stopAtProgress(Process p, String line, boolean kill) throws Exception {
        BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        List<String> seen = new ArrayList<>();
        for (String l; (l = err.readLine()) != null; ) {
            seen.add(l);
            if (l.startsWith(line)) {
                if (kill) {
                    p.destroyForcibly();
                } else {
                    p.destroy();
                }
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                assertEquals(kill ? 137 : 143, p.exitValue(), "ended by the signal: " + seen);
                return;
            }
        }
        p.waitFor(30, TimeUnit.SECONDS);
        fail("the child ended (" + p.exitValue() + ") before '" + line + "': " + seen);
    }

    private static String errors(Process p) {
        try {
            return new String(p.getErrorStream().readNBytes(4096), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.toString();
        }
    }

    static List<Path> list(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.sorted().toList();
        }
    }
}
