package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.chat.Conversation;
import dev.jllm.chat.Message;
import dev.jllm.io.OutputPathException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, item 1: every writer (synth, convert to each format, dump, chat's /save) refuses a target that is not a
 * regular file (a FIFO, a socket, a folder, a link to a device) with one line and exit 2, and leaves it as it was;
 * a symbolic link to a regular file gets that file replaced, the link kept. Nothing else appears beside the target.
 */
class OutputPathsTest {

    @TempDir
    Path dir;

    private static String model() {
        return SharedData.model("stories260K-f32.gguf").toString();
    }

    /** The commands that write one file, with the output path last. */
    private static List<String[]> fileWriters(Path out) {
        String o = out.toString();
        return List.of(
                new String[] {"synth", "--dim", "64", "--layers", "1", "--heads", "4", "--hidden", "128",
                    "--vocab-size", "512", "--type", "f32", "-o", o},
                new String[] {"convert", model(), "--to", "gguf", "-o", o},
                new String[] {"convert", model(), "--to", "flatbin", "-o", o},
                new String[] {"convert", model(), "--to", "llama2c", "-o", o});
    }

    /** The commands that write a folder. */
    private static List<String[]> folderWriters(Path out) {
        String o = out.toString();
        return List.of(
                new String[] {"convert", model(), "--to", "hf", "-o", o},
                new String[] {"dump", "weights", "-m", model(), "-o", o, "--filter", "^output_norm"});
    }

    /** A target and how to check it is what it was. */
    private record Target(String what, Path path, Check unchanged) {
    }

    @FunctionalInterface
    private interface Check {
        void check() throws IOException;
    }

    private List<Target> hostileTargets(boolean forFiles) throws Exception {
        List<Target> targets = new ArrayList<>();
        Path fifo = dir.resolve("fifo");
        mkfifo(fifo);
        targets.add(new Target("a FIFO", fifo, () -> assertEquals(0010000, mode(fifo), "still a FIFO")));
        Path socket = dir.resolve("socket");
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        server.close(); // the socket file stays
        targets.add(new Target("a socket", socket, () -> assertEquals(0140000, mode(socket), "still a socket")));
        Path device = dir.resolve("to-dev-null");
        Files.createSymbolicLink(device, Path.of("/dev/null"));
        targets.add(new Target("a link to a device", device, () -> {
            assertEquals(Path.of("/dev/null"), Files.readSymbolicLink(device));
            assertEquals(0020000, mode(Path.of("/dev/null")), "/dev/null is still a character device");
        }));
        Path dangling = dir.resolve("dangling");
        Files.createSymbolicLink(dangling, dir.resolve("nowhere/file"));
        targets.add(new Target("a dangling link", dangling, () -> {
            assertEquals(dir.resolve("nowhere/file"), Files.readSymbolicLink(dangling));
            assertFalse(Files.exists(dir.resolve("nowhere")));
        }));
        if (forFiles) {
            Path folder = dir.resolve("folder");
            Files.createDirectories(folder);
            targets.add(new Target("a folder", folder, () -> {
                assertTrue(Files.isDirectory(folder, LinkOption.NOFOLLOW_LINKS));
                try (Stream<Path> s = Files.list(folder)) {
                    assertEquals(0, s.count());
                }
            }));
        } else {
            Path file = dir.resolve("file");
            Files.writeString(file, "keep me");
            targets.add(new Target("a regular file", file, () -> assertEquals("keep me", Files.readString(file))));
            Path full = dir.resolve("full");
            Files.createDirectories(full);
            Files.writeString(full.resolve("keep.txt"), "keep me too");
            targets.add(new Target("a folder that is not empty", full,
                    () -> assertEquals("keep me too", Files.readString(full.resolve("keep.txt")))));
        }
        return targets;
    }

    @Test
    void fileWritersRefuseWhatIsNotARegularFileAndLeaveItAsItWas() throws Exception {
        assertEveryWriterRefusesEveryTarget(hostileTargets(true), OutputPathsTest::fileWriters);
    }

    @Test
    void folderWritersRefuseWhatIsNotAnEmptyFolderAndLeaveItAsItWas() throws Exception {
        assertEveryWriterRefusesEveryTarget(hostileTargets(false), OutputPathsTest::folderWriters);
    }

    private void assertEveryWriterRefusesEveryTarget(List<Target> targets,
                                                     java.util.function.Function<Path, List<String[]>> writers)
            throws Exception {
        List<Path> before = list(dir);
        for (Target t : targets) {
            for (String[] args : writers.apply(t.path())) {
                CliTest.Result r = CliTest.run(args);
                String what = String.join(" ", args) + " onto " + t.what();
                assertEquals(2, r.code(), what + ": " + r.err());
                assertEquals(1, r.err().strip().lines().count(), what + ": " + r.err());
                assertTrue(r.err().startsWith("jllm: cannot write " + t.path()), what + ": " + r.err());
                t.unchanged().check();
                assertEquals(before, list(dir), what + ": nothing else was written");
            }
        }
    }

    @Test
    void chatSaveRefusesWhatIsNotARegularFile() throws Exception {
        Conversation c = Conversation.empty().with(new Message("user", "hello"));
        for (Target t : hostileTargets(true)) {
            List<Path> before = list(dir);
            OutputPathException e = org.junit.jupiter.api.Assertions.assertThrows(OutputPathException.class,
                    () -> c.write(t.path()), t.what());
            assertTrue(e.getMessage().startsWith("cannot write " + t.path()), e.getMessage());
            t.unchanged().check();
            assertEquals(before, list(dir), t.what());
        }
    }

    /** The documented choice for links: a link to a regular file is followed, the file replaced, the link kept. */
    @Test
    void aLinkToARegularFileGetsThatFileReplacedAndStays() throws Exception {
        Path real = dir.resolve("real");
        Files.createDirectories(real);
        Path save = real.resolve("save.json");
        Files.writeString(save, "old");
        Path link = dir.resolve("link.json");
        Files.createSymbolicLink(link, save);
        Conversation.empty().with(new Message("user", "hello")).write(link);
        assertEquals(save, Files.readSymbolicLink(link));
        assertTrue(Files.readString(save).contains("hello"), Files.readString(save));

        Path gguf = real.resolve("model.gguf");
        Files.writeString(gguf, "old");
        Path ggufLink = dir.resolve("model.gguf");
        Files.createSymbolicLink(ggufLink, gguf);
        CliTest.Result r = CliTest.run("convert", model(), "--to", "gguf", "-o", ggufLink.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(gguf, Files.readSymbolicLink(ggufLink));
        assertTrue(Files.size(gguf) > 1000, "the model went to the file the link points to");
        assertEquals(List.of(dir.resolve("link.json"), dir.resolve("model.gguf"), real), list(dir));
        assertEquals(List.of(gguf, save), list(real));
    }

    static void mkfifo(Path p) throws Exception {
        Process mk = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
        assertTrue(mk.waitFor(10, TimeUnit.SECONDS) && mk.exitValue() == 0, "mkfifo " + p);
    }

    static int mode(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000;
    }

    static List<Path> list(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.sorted().toList();
        }
    }
}
