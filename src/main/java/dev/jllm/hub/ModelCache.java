package dev.jllm.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.io.OutputFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The local model cache. Layout (as the Hugging Face Hub's own cache, without its blob store):
 * <pre>
 * ROOT/models--OWNER--NAME/
 *     refs/REVISION                      the commit a branch or tag named when it was last pulled
 *     listings/COMMIT.json               the repository's file list at that commit, as the Hub gave it
 *     snapshots/COMMIT/FILE              complete, verified files only
 *     partial/COMMIT/FILE.part           downloads in progress, resumed from where they stopped
 * </pre>
 * Files are kept by commit when the Hub names one (it does), else by the revision's name. A file appears under
 * {@code snapshots/} only by an atomic rename once its size and checksum are verified, so the snapshots never hold a
 * partial file.
 *
 * <p>A cache may be shared, so nothing below the root is trusted to be what jllm made: every folder must be a real
 * folder and every file a regular file. A symbolic link (or a device, a FIFO) anywhere below the root is refused with
 * one line, never followed, so a link planted in the cache cannot make jllm write, truncate or read another file.
 */
public final class ModelCache {

    /** A file in the cache: complete (under snapshots/) or partial (under partial/). */
    public record Entry(String repo, String snapshot, List<String> refs, String file, long size, boolean partial) {
    }

    private static final String PREFIX = "models--";
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String PART_SUFFIX = ".part";

    private final Path root;

    public ModelCache(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    /** {@code $JLLM_CACHE}, else {@code $XDG_CACHE_HOME/jllm}, else {@code ~/.cache/jllm}. */
    public static Path defaultRoot(Map<String, String> env) {
        String explicit = env.get("JLLM_CACHE");
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "jllm");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "jllm");
    }

    public Path root() {
        return root;
    }

    Path repoDir(String repo) {
        return root.resolve(PREFIX + repo.replace("/", "--"));
    }

    /** The folder name of a revision that has no known commit: its name, with '/' (as in refs/pr/1) made flat. */
    static String revisionKey(String revision) {
        return revision.replace("/", "--");
    }

    Path snapshotDir(String repo, String key) {
        return repoDir(repo).resolve("snapshots").resolve(key);
    }

    Path snapshotFile(String repo, String key, String file) {
        return resolveInside(snapshotDir(repo, key), file);
    }

    Path partialFile(String repo, String key, String file) {
        return resolveInside(repoDir(repo).resolve("partial").resolve(key), file + PART_SUFFIX);
    }

    private static Path resolveInside(Path dir, String relative) {
        Path p = dir.resolve(relative).normalize();
        if (!p.startsWith(dir)) {
            throw new HubException(relative + ": not a file path inside a repository");
        }
        return p;
    }

    /** The snapshot a revision names locally: a commit itself, the commit its ref recorded, or the revision's name. */
    String localKey(String repo, String revision) {
        if (RepoPaths.isCommit(revision)) {
            return revision;
        }
        return readRef(repo, revision).orElse(revisionKey(revision));
    }

    Optional<String> readRef(String repo, String revision) {
        Path ref = repoDir(repo).resolve("refs").resolve(revision);
        if (!isCachedFile(ref)) {
            return Optional.empty();
        }
        try {
            String commit = new String(readSmall(ref), StandardCharsets.UTF_8).strip();
            return RepoPaths.isCommit(commit) ? Optional.of(commit) : Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void writeRef(String repo, String revision, String commit) throws IOException {
        Path ref = repoDir(repo).resolve("refs").resolve(revision);
        createDirectories(ref.getParent());
        byte[] text = (commit + "\n").getBytes(StandardCharsets.UTF_8);
        OutputFiles.writeStream(ref, OutputFiles.Links.REFUSE, out -> out.write(text));
    }

    /** Records the repository's file list at a snapshot, for choosing among its files later without the network. */
    void writeListing(String repo, String key, List<String> files) throws IOException {
        Path listing = listingFile(repo, key);
        createDirectories(listing.getParent());
        ObjectNode root = JSON.createObjectNode();
        ArrayNode array = root.putArray("files");
        files.forEach(array::add);
        byte[] json = JSON.writeValueAsBytes(root);
        OutputFiles.writeStream(listing, OutputFiles.Links.REFUSE, out -> out.write(json));
    }

    /** The file list recorded when the snapshot was pulled, if any (names checked again: the cache may be shared). */
    Optional<List<String>> readListing(String repo, String key) {
        Path listing = listingFile(repo, key);
        if (!isCachedFile(listing)) {
            return Optional.empty();
        }
        try {
            JsonNode files = JSON.readTree(readSmall(listing)).path("files");
            List<String> names = new ArrayList<>();
            for (JsonNode f : files) {
                names.add(RepoPaths.check(f.asText(""), listing + " lists '" + f.asText("") + "'"));
            }
            return Optional.of(List.copyOf(names));
        } catch (IOException e) {
            throw new HubException(listing + ": not a file list jllm wrote (" + e.getMessage() + "); remove it");
        }
    }

    private Path listingFile(String repo, String key) {
        return repoDir(repo).resolve("listings").resolve(revisionKey(key) + ".json");
    }

    /** Reads a small cache file (a ref, a listing): at most 16 MiB. */
    private static byte[] readSmall(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            byte[] bytes = in.readNBytes(16 << 20);
            if (in.read() >= 0) {
                throw new IOException("larger than 16 MiB");
            }
            return bytes;
        }
    }

    // ---- what is below the root must be what jllm makes: real folders and regular files ----

    /** Creates the folders down to {@code dir} (inside the cache), refusing any that is a link or not a folder. */
    void createDirectories(Path dir) throws IOException {
        Path relative = relativeInside(dir);
        Files.createDirectories(root); // the root itself is the user's choice and may be a link
        Path p = root;
        for (Path part : relative) {
            p = p.resolve(part);
            try {
                Files.createDirectory(p);
            } catch (FileAlreadyExistsException e) {
                // checked below
            }
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isDirectory()) {
                throw refused(p, a, "a folder");
            }
        }
    }

    /**
     * Checks {@code path} (inside the cache) and every folder above it up to the root: existing folders must be real
     * folders, the path itself absent or a regular file. Throws a one-line {@link HubException} otherwise.
     */
    void requireRegularOrAbsent(Path path) {
        requireReal(path, true);
    }

    /** Checks that {@code dir} and the folders above it are real folders, when they exist. */
    void requireRealFolder(Path dir) {
        requireReal(dir, false);
    }

    private void requireReal(Path path, boolean file) {
        Path relative = relativeInside(path);
        Path p = root;
        int n = relative.getNameCount();
        for (int i = 0; i < n; i++) {
            p = p.resolve(relative.getName(i));
            BasicFileAttributes a;
            try {
                a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                return;
            } catch (IOException e) {
                throw new HubException(p + ": cannot read the model cache (" + e.getMessage() + ")", e);
            }
            boolean aFile = file && i == n - 1;
            if (aFile ? !a.isRegularFile() : !a.isDirectory()) {
                throw refused(p, a, aFile ? "a regular file" : "a folder");
            }
        }
    }

    /** Whether a complete file is at {@code path}: a regular file under real folders (anything else is refused). */
    boolean isCachedFile(Path path) {
        requireRegularOrAbsent(path);
        return Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS);
    }

    private Path relativeInside(Path path) {
        Path p = path.toAbsolutePath().normalize();
        if (!p.startsWith(root) || p.equals(root)) {
            throw new IllegalArgumentException(path + " is not inside the cache " + root);
        }
        return root.relativize(p);
    }

    private static HubException refused(Path p, BasicFileAttributes a, String expected) {
        String what = a.isSymbolicLink() ? "a symbolic link" : a.isDirectory() ? "a folder" : a.isRegularFile()
                ? "a file" : "a special file (device, FIFO or socket)";
        return new HubException(p + ": " + what + " in the model cache where jllm keeps " + expected + "; jllm does not"
                + " follow or replace it (remove it, or use another --cache-dir)");
    }

    /** Deletes the empty folders from {@code file}'s up (the repository's folder too when nothing is left in it). */
    void pruneEmptyParents(Path file, String repo) {
        Path stop = repoDir(repo);
        for (Path d = file.getParent(); d != null && d.startsWith(stop); d = d.getParent()) {
            try {
                Files.delete(d);
            } catch (IOException e) {
                return; // not empty (another download, a ref) or already gone
            }
        }
    }

    /**
     * The complete files of a snapshot, as '/'-separated paths relative to it. Anything in it that is neither a real
     * folder nor a regular file (a link, a device) is refused with one line.
     */
    List<String> snapshotFiles(String repo, String key) {
        Path dir = snapshotDir(repo, key);
        requireRealFolder(dir);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return List.of();
        }
        List<String> files = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (a.isRegularFile()) {
                    files.add(dir.relativize(p).toString().replace('\\', '/'));
                } else if (!a.isDirectory()) {
                    throw refused(p, a, "only regular files and folders");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        files.sort(null);
        return List.copyOf(files);
    }

    /** Everything in the cache, by repository, snapshot and file; partial downloads are flagged. */
    public List<Entry> list() {
        List<Entry> entries = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return entries;
        }
        try (DirectoryStream<Path> repos = Files.newDirectoryStream(root, PREFIX + "*")) {
            List<Path> sorted = new ArrayList<>();
            repos.forEach(sorted::add);
            sorted.sort(Comparator.naturalOrder());
            for (Path repoDir : sorted) {
                if (!Files.isDirectory(repoDir, LinkOption.NOFOLLOW_LINKS)) {
                    continue; // only what jllm makes is listed; links are not followed
                }
                String repo = repoDir.getFileName().toString().substring(PREFIX.length()).replace("--", "/");
                Map<String, List<String>> refsByCommit = refs(repoDir);
                for (String area : List.of("snapshots", "partial")) {
                    Path base = repoDir.resolve(area);
                    if (!Files.isDirectory(base, LinkOption.NOFOLLOW_LINKS)) {
                        continue;
                    }
                    try (DirectoryStream<Path> keys = Files.newDirectoryStream(base)) {
                        for (Path keyDir : keys) {
                            if (!Files.isDirectory(keyDir, LinkOption.NOFOLLOW_LINKS)) {
                                continue;
                            }
                            String key = keyDir.getFileName().toString();
                            List<String> refs = refsByCommit.getOrDefault(key, List.of());
                            try (Stream<Path> walk = Files.walk(keyDir)) {
                                for (Path f : walk.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                                        .sorted().toList()) {
                                    String name = keyDir.relativize(f).toString().replace('\\', '/');
                                    boolean partial = area.equals("partial");
                                    if (partial) {
                                        if (!name.endsWith(PART_SUFFIX)) {
                                            continue;
                                        }
                                        name = name.substring(0, name.length() - PART_SUFFIX.length());
                                    }
                                    entries.add(new Entry(repo, key, refs, name, Files.size(f), partial));
                                }
                            }
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        entries.sort(Comparator.comparing(Entry::repo).thenComparing(Entry::snapshot).thenComparing(Entry::file)
                .thenComparing(Entry::partial));
        return entries;
    }

    private static Map<String, List<String>> refs(Path repoDir) throws IOException {
        Path refsDir = repoDir.resolve("refs");
        Map<String, List<String>> byCommit = new java.util.TreeMap<>();
        if (!Files.isDirectory(refsDir, LinkOption.NOFOLLOW_LINKS)) {
            return byCommit;
        }
        try (Stream<Path> walk = Files.walk(refsDir)) {
            for (Path ref : walk.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                    .filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList()) {
                String commit = new String(readSmall(ref), StandardCharsets.UTF_8).strip();
                byCommit.computeIfAbsent(commit, k -> new ArrayList<>()).add(refsDir.relativize(ref).toString().replace('\\', '/'));
            }
        }
        return byCommit;
    }

    /**
     * Removes a repository (no file named) or the cached files a reference selects, complete and partial, in every
     * snapshot. Returns the removed paths; throws when nothing in the cache matches.
     */
    public List<Path> remove(ModelRef ref) {
        Path repoDir = repoDir(ref.repo());
        if (!Files.isDirectory(repoDir)) {
            throw new HubException(ref.repo() + " is not in the cache (" + root + ")");
        }
        try {
            if (ref.file() == null) {
                deleteTree(repoDir);
                return List.of(repoDir);
            }
            List<Entry> mine = list().stream().filter(e -> e.repo().equals(ref.repo())).toList();
            String chosen = resolve(ref, mine);
            List<Path> removed = new ArrayList<>();
            for (Entry e : mine) {
                if (e.file().equals(chosen)) {
                    Path p = e.partial() ? partialFile(e.repo(), e.snapshot(), e.file()) : snapshotFile(e.repo(), e.snapshot(), e.file());
                    if (Files.deleteIfExists(p)) {
                        removed.add(p);
                    }
                }
            }
            pruneEmptyDirectories(repoDir);
            return removed;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The file of the cache that {@code ref} names, by the rule {@code pull} follows ({@link Selection#choose}) among
     * the repository's files: those its recorded listings name and those in the cache. So a reference that is
     * ambiguous for {@code pull} is ambiguous here too, whatever part of the repository is cached. Throws a one-line
     * {@link HubException} when the reference matches several files, or none that is cached.
     */
    public String resolve(ModelRef ref) {
        if (ref.file() == null) {
            throw new IllegalArgumentException("no file named in " + ref);
        }
        return resolve(ref, list().stream().filter(e -> e.repo().equals(ref.repo())).toList());
    }

    private String resolve(ModelRef ref, List<Entry> cached) {
        java.util.Set<String> files = new java.util.TreeSet<>();
        cached.forEach(e -> files.add(e.file()));
        Path listings = repoDir(ref.repo()).resolve("listings");
        if (Files.isDirectory(listings, LinkOption.NOFOLLOW_LINKS)) {
            try (DirectoryStream<Path> recorded = Files.newDirectoryStream(listings, "*.json")) {
                for (Path l : recorded) {
                    String key = l.getFileName().toString();
                    readListing(ref.repo(), key.substring(0, key.length() - ".json".length())).ifPresent(files::addAll);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        String chosen;
        try {
            chosen = switch (Selection.choose(ref.repo(), ref.file(), files)) {
                case Selection.SingleFile single -> single.name();
                case Selection.Directory ignored -> throw new IllegalStateException("a file was named");
            };
        } catch (Selection.AmbiguousException e) {
            throw e; // the same message as pull's: name one of them
        } catch (HubException e) {
            throw new HubException(ref + " is not in the cache (" + root + "): " + e.getMessage());
        }
        if (cached.stream().noneMatch(e -> e.file().equals(chosen))) {
            throw new HubException(ref + " is " + ref.repo() + ":" + chosen + ", which is not in the cache (" + root
                    + ")");
        }
        return chosen;
    }

    /** Deletes empty folders under the repository, then the repository itself when no file is left but refs. */
    private static void pruneEmptyDirectories(Path repoDir) throws IOException {
        for (String area : List.of("snapshots", "partial")) {
            Path base = repoDir.resolve(area);
            if (Files.isDirectory(base)) {
                try (Stream<Path> walk = Files.walk(base)) {
                    for (Path d : walk.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList()) {
                        try (Stream<Path> children = Files.list(d)) {
                            if (children.findAny().isEmpty()) {
                                Files.delete(d);
                            }
                        }
                    }
                }
            }
        }
        if (!Files.exists(repoDir.resolve("snapshots")) && !Files.exists(repoDir.resolve("partial"))) {
            deleteTree(repoDir);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            OutputFiles.deleteTree(dir);
        }
    }

    static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
