package dev.jllm.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The one way jllm writes a file or a folder the user named: the result appears under its name only when complete,
 * and nothing the name pointed at is destroyed.
 *
 * <ul>
 *   <li>The target must be absent or a regular file (a folder output: absent or an empty folder). A device, a FIFO,
 *       a socket, or a folder where a file is expected, is refused with {@link OutputPathException}: the output is
 *       never written over something that is not a file.</li>
 *   <li>A symbolic link is followed to what it points to, and the rules apply there: a link to a regular file gets
 *       that file replaced (the link stays); a link to a device or a missing file is refused. Callers that must not
 *       follow links (the model cache) ask for {@link Links#REFUSE}.</li>
 *   <li>The work goes to a temporary {@code .NAME.jllm-PID-RANDOM.tmp} beside the target, created exclusively
 *       ({@code CREATE_NEW}, which never follows a link), then renamed onto the target. On failure, and on SIGINT or
 *       SIGTERM (a shutdown hook), the temporary is deleted; one left behind by a process that no longer runs
 *       ({@code kill -9}, a power cut) is deleted the next time anything writes the same target.</li>
 * </ul>
 */
public final class OutputFiles {

    /** What to do with a target that is a symbolic link. */
    public enum Links {
        /** Write to the file the link points to (the user named it). */
        FOLLOW,
        /** Refuse: a link where jllm keeps its own files (the model cache) was not made by jllm. */
        REFUSE
    }

    /** Writes the content of a file. */
    @FunctionalInterface
    public interface FileWork<T> {
        T write(FileChannel channel) throws IOException;
    }

    /** Fills a folder (given as its temporary path; create files in it with {@link #createNew}). */
    @FunctionalInterface
    public interface DirectoryWork<T> {
        T write(Path dir) throws IOException;
    }

    private static final String TEMP_SUFFIX = ".tmp";
    private static final Pattern TEMP_TAIL =
            Pattern.compile("\\.jllm-(\\d+)-[0-9a-f]{12}" + Pattern.quote(TEMP_SUFFIX));
    /** Temporaries of this process not yet renamed or deleted: deleted by the shutdown hook. */
    private static final Map<Path, Boolean> LIVE = new ConcurrentHashMap<>();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static volatile boolean hookInstalled;
    private static volatile boolean shuttingDown;

    private OutputFiles() {
    }

    // ---- checks ----

    /**
     * Checks that a file can be written at {@code target} (nothing is created) and returns where it will go: the
     * target, or with {@link Links#FOLLOW} the file a symbolic link points to.
     */
    public static Path checkFile(Path target, Links links) throws OutputPathException {
        Path real = resolve(target, links);
        BasicFileAttributes a = attributes(real);
        if (a != null && !a.isRegularFile()) {
            throw new OutputPathException(target, describe(real, a) + (a.isDirectory() ? " (expected a file name)"
                    : ", not a regular file; jllm writes only regular files"));
        }
        checkParent(target, real);
        return real;
    }

    /** Checks that a folder can be written at {@code target}: absent or an empty folder. Returns where it will go. */
    public static Path checkDirectory(Path target, Links links) throws OutputPathException {
        Path real = resolve(target, links);
        BasicFileAttributes a = attributes(real);
        if (a != null) {
            if (!a.isDirectory()) {
                throw new OutputPathException(target, describe(real, a) + " (expected a new or empty directory)");
            }
            if (!isEmptyDirectory(real)) {
                throw new OutputPathException(target, "it exists and is not empty (give a new or empty directory)");
            }
        }
        checkParent(target, real);
        return real;
    }

    private static Path resolve(Path target, Links links) throws OutputPathException {
        Path absolute = target.toAbsolutePath().normalize();
        if (absolute.getFileName() == null) {
            throw new OutputPathException(target, "it names no file");
        }
        BasicFileAttributes a = attributes(absolute);
        if (a == null || !a.isSymbolicLink()) {
            return absolute;
        }
        if (links == Links.REFUSE) {
            throw new OutputPathException(target, "it is a symbolic link, which jllm does not follow here (remove it)");
        }
        try {
            return absolute.toRealPath();
        } catch (IOException e) {
            throw new OutputPathException(target, "it is a symbolic link to a file that does not exist");
        }
    }

    private static void checkParent(Path target, Path real) throws OutputPathException {
        Path dir = real.getParent();
        if (dir == null) {
            throw new OutputPathException(target, "it has no parent directory");
        }
        if (!Files.isDirectory(dir)) {
            throw new OutputPathException(target, Files.exists(dir) ? dir + " is not a directory"
                    : "directory " + dir + " does not exist");
        }
    }

    private static BasicFileAttributes attributes(Path p) throws OutputPathException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new OutputPathException(p, reason(e));
        }
    }

    /** "it is a directory", "it is a character device", ... for a path that exists. */
    private static String describe(Path p, BasicFileAttributes a) {
        if (a.isDirectory()) {
            return "it is a directory";
        }
        if (a.isSymbolicLink()) {
            return "it is a symbolic link";
        }
        if (a.isRegularFile()) {
            return "it is a regular file";
        }
        try {
            int type = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000;
            return switch (type) {
                case 0020000 -> "it is a character device";
                case 0060000 -> "it is a block device";
                case 0010000 -> "it is a FIFO";
                case 0140000 -> "it is a socket";
                default -> "it is a special file";
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "it is a special file";
        }
    }

    private static boolean isEmptyDirectory(Path dir) throws OutputPathException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new OutputPathException(dir, reason(e));
        }
    }

    // ---- writing ----

    /** Writes a file atomically at {@code target} (see the class comment); returns what {@code work} returns. */
    public static <T> T writeFile(Path target, Links links, FileWork<T> work) throws IOException {
        Path real = checkFile(target, links);
        FileChannel[] channel = new FileChannel[1];
        Path temp = createTemp(real, p -> channel[0] = FileChannel.open(p, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS), false);
        boolean done = false;
        try {
            T result;
            try (FileChannel ch = channel[0]) {
                result = work.write(ch);
                ch.force(true);
            }
            checkFile(real, Links.REFUSE); // what the name holds now: still nothing, or a regular file
            rename(temp, real);
            done = true;
            return result;
        } finally {
            finish(temp, done);
        }
    }

    /** {@link #writeFile} for content written as a stream (buffer it if it comes in small pieces). */
    public static void writeStream(Path target, Links links, StreamWork work) throws IOException {
        writeFile(target, links, channel -> {
            OutputStream out = Channels.newOutputStream(channel);
            work.write(out);
            out.flush();
            return null;
        });
    }

    /** Writes a stream. */
    @FunctionalInterface
    public interface StreamWork {
        void write(OutputStream out) throws IOException;
    }

    /** Writes a folder atomically at {@code target}: filled under a temporary name, renamed when complete. */
    public static <T> T writeDirectory(Path target, Links links, DirectoryWork<T> work) throws IOException {
        Path real = checkDirectory(target, links);
        Path temp = createTemp(real, Files::createDirectory, true);
        boolean done = false;
        try {
            T result = work.write(temp);
            try {
                rename(temp, real); // rename(2) replaces an empty folder
            } catch (DirectoryNotEmptyException | FileAlreadyExistsException e) {
                checkDirectory(real, Links.REFUSE);
                Files.deleteIfExists(real);
                rename(temp, real);
            }
            done = true;
            return result;
        } finally {
            finish(temp, done);
        }
    }

    /**
     * Creates a new file in a folder that a {@link DirectoryWork} is filling: {@code name} must be a plain file name
     * (see {@link SafeNames#inside}); an existing entry of that name is an error, never overwritten or followed.
     */
    public static OutputStream createNew(Path dir, String name) throws IOException {
        if (shuttingDown) {
            throw new IOException("jllm is shutting down");
        }
        return Files.newOutputStream(SafeNames.inside(dir, name), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    }

    @FunctionalInterface
    private interface Create {
        void create(Path temp) throws IOException;
    }

    /**
     * Creates the temporary beside {@code real} (a file or a folder, with {@code create}, which must fail when the
     * name exists) and registers it for deletion at shutdown; stale temporaries of the same target are deleted first.
     */
    private static Path createTemp(Path real, Create create, boolean directory) throws IOException {
        installHook();
        Path dir = real.getParent();
        String base = tempBase(real.getFileName().toString());
        removeStale(dir, base);
        long pid = ProcessHandle.current().pid();
        for (int attempt = 0; ; attempt++) {
            byte[] random = new byte[6];
            RANDOM.nextBytes(random);
            Path temp = dir.resolve(base + ".jllm-" + pid + "-" + HexFormat.of().formatHex(random) + TEMP_SUFFIX);
            LIVE.put(temp, directory);
            try {
                create.create(temp);
                if (shuttingDown) {
                    throw new IOException("jllm is shutting down");
                }
                return temp;
            } catch (FileAlreadyExistsException e) {
                LIVE.remove(temp);
                if (attempt >= 8) {
                    throw e;
                }
            } catch (IOException | RuntimeException e) {
                finish(temp, false);
                throw e;
            }
        }
    }

    /** The start of a temporary's name: a dot, the target's name (cut to leave room), a dot. */
    private static String tempBase(String name) {
        return "." + (name.length() > 160 ? name.substring(0, 160) : name);
    }

    /**
     * Deletes temporaries of {@code base} left in {@code dir} by processes that no longer run. A process of the same
     * id that runs (another jllm writing the same target, or an unrelated reuse of the id) keeps its temporary.
     */
    private static void removeStale(Path dir, String base) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, p -> {
            String n = p.getFileName().toString();
            return n.startsWith(base + ".jllm-") && TEMP_TAIL.matcher(n.substring(base.length())).matches();
        })) {
            for (Path p : entries) {
                Matcher m = TEMP_TAIL.matcher(p.getFileName().toString().substring(base.length()));
                if (m.matches() && !running(Long.parseLong(m.group(1)))) {
                    deleteQuietly(p, Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // nothing to clean, or not allowed to: the write itself goes on
        }
    }

    private static boolean running(long pid) {
        return pid == ProcessHandle.current().pid() || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private static void rename(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void finish(Path temp, boolean done) {
        if (!done) {
            deleteQuietly(temp, Boolean.TRUE.equals(LIVE.get(temp)));
        }
        LIVE.remove(temp);
    }

    private static synchronized void installHook() {
        if (hookInstalled) {
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            shuttingDown = true;
            for (int round = 0; round < 3 && !LIVE.isEmpty(); round++) { // a writer may add a file meanwhile
                LIVE.forEach((p, dir) -> {
                    if (deleteQuietly(p, dir)) {
                        LIVE.remove(p);
                    }
                });
            }
        }, "jllm-output-cleanup"));
        hookInstalled = true;
    }

    /** Deletes a file, or a folder and what is in it (links are deleted, never followed); true when it is gone. */
    public static boolean deleteQuietly(Path p, boolean directory) {
        try {
            if (directory && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                deleteTree(p);
            } else {
                Files.deleteIfExists(p);
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Deletes a folder tree without following links. */
    public static void deleteTree(Path dir) throws IOException {
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw e;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.deleteIfExists(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** A short reason for a failed write, for "cannot write FILE: REASON". */
    public static String reason(IOException e) {
        if (e instanceof OutputPathException o) {
            return o.reason();
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied" + (e.getMessage() != null ? " (" + e.getMessage() + ")" : "");
        }
        if (e instanceof NoSuchFileException n) {
            return "no such file or directory: " + n.getFile();
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason() + (f.getFile() != null ? " (" + f.getFile() + ")" : "");
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
