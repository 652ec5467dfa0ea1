package dev.jllm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one mechanism every writer uses: atomic, never over what is not a file, no temporary left behind. */
class OutputFilesTest {

    @TempDir
    Path dir;

    private static List<Path> list(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.sorted().toList();
        }
    }

    private static void write(Path target, String text) throws IOException {
        OutputFiles.writeStream(target, OutputFiles.Links.FOLLOW, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aFileAppearsWhenCompleteAndAFailureKeepsTheOldOne() throws IOException {
        Path target = dir.resolve("out.bin");
        write(target, "one");
        assertEquals("one", Files.readString(target));
        IOException e = assertThrows(IOException.class, () -> OutputFiles.writeFile(target, OutputFiles.Links.FOLLOW,
                channel -> {
                    channel.write(ByteBuffer.wrap(new byte[100]));
                    throw new IOException("disk on fire");
                }));
        assertEquals("disk on fire", e.getMessage());
        assertEquals("one", Files.readString(target));
        assertEquals(List.of(target), list(dir));
    }

    @Test
    void staleTemporariesOfDeadProcessesAreRemovedOthersKept() throws IOException {
        Path target = dir.resolve("model.gguf");
        long dead = deadPid();
        long alive = ProcessHandle.current().parent().map(ProcessHandle::pid).orElseThrow();
        Path staleFile = dir.resolve(".model.gguf.jllm-" + dead + "-0123456789ab.tmp");
        Path staleDir = dir.resolve(".model.gguf.jllm-" + dead + "-0123456789ac.tmp");
        Path live = dir.resolve(".model.gguf.jllm-" + alive + "-0123456789ad.tmp");
        Path otherTarget = dir.resolve(".other.gguf.jllm-" + dead + "-0123456789ae.tmp");
        Path notOurs = dir.resolve(".model.gguf.backup.tmp");
        Files.writeString(staleFile, "partial");
        Files.createDirectories(staleDir.resolve("sub"));
        Files.writeString(staleDir.resolve("sub/f"), "x");
        Path victim = dir.resolve("victim");
        Files.writeString(victim, "keep");
        Files.createSymbolicLink(staleDir.resolve("link"), victim);
        Files.writeString(live, "being written");
        Files.writeString(otherTarget, "another target's");
        Files.writeString(notOurs, "the user's");
        write(target, "done");
        assertEquals(Stream.of(live, notOurs, otherTarget, target, victim).sorted().toList(), list(dir));
        assertEquals("keep", Files.readString(victim), "links in a stale folder are removed, not followed");
    }

    @Test
    void refusedTargetsAreLeftAlone() throws IOException {
        Path folder = dir.resolve("folder");
        Files.createDirectories(folder);
        OutputPathException e = assertThrows(OutputPathException.class, () -> write(folder, "x"));
        assertEquals("it is a directory (expected a file name)", e.reason());
        Path link = dir.resolve("link");
        Files.createSymbolicLink(link, dir.resolve("target-file"));
        e = assertThrows(OutputPathException.class, () -> write(link, "x"));
        assertEquals("it is a symbolic link to a file that does not exist", e.reason());
        Files.writeString(dir.resolve("target-file"), "old");
        e = assertThrows(OutputPathException.class, () -> OutputFiles.writeStream(link, OutputFiles.Links.REFUSE,
                out -> out.write(1)));
        assertTrue(e.reason().startsWith("it is a symbolic link, which jllm does not follow here"), e.reason());
        assertEquals("old", Files.readString(dir.resolve("target-file")));
        e = assertThrows(OutputPathException.class, () -> write(dir.resolve("missing/out"), "x"));
        assertTrue(e.reason().startsWith("directory ") && e.reason().endsWith("missing does not exist"), e.reason());
        assertEquals(Stream.of(folder, link, dir.resolve("target-file")).sorted().toList(), list(dir));
    }

    @Test
    void aFolderReplacesAnEmptyFolderAndNeverOverwritesInside() throws IOException {
        Path target = dir.resolve("dump");
        Files.createDirectories(target);
        OutputFiles.writeDirectory(target, OutputFiles.Links.FOLLOW, tmp -> {
            try (var out = OutputFiles.createNew(tmp, "a.csv")) {
                out.write(1);
            }
            assertThrows(java.nio.file.FileAlreadyExistsException.class, () -> OutputFiles.createNew(tmp, "a.csv"));
            assertThrows(IllegalArgumentException.class, () -> OutputFiles.createNew(tmp, "../escape"));
            return null;
        });
        assertEquals(List.of(target.resolve("a.csv")), list(target));
        assertEquals(List.of(target), list(dir));
        OutputPathException e = assertThrows(OutputPathException.class,
                () -> OutputFiles.writeDirectory(target, OutputFiles.Links.FOLLOW, tmp -> null));
        assertEquals("it exists and is not empty (give a new or empty directory)", e.reason());
        assertThrows(IOException.class, () -> OutputFiles.writeDirectory(dir.resolve("failed"), OutputFiles.Links.FOLLOW,
                tmp -> {
                    Files.writeString(tmp.resolve("half"), "x");
                    throw new IOException("stop");
                }));
        assertEquals(List.of(target), list(dir));
    }

    /** The id of a process that has ended. */
    private static long deadPid() throws IOException {
        Process p = new ProcessBuilder("true").start();
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
        return p.pid();
    }
}
