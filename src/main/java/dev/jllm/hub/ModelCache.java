package dev.jllm.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
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
 *     snapshots/COMMIT/FILE              complete, verified files only
 *     partial/COMMIT/FILE.part           downloads in progress, resumed from where they stopped
 * </pre>
 * Files are kept by commit when the Hub names one (it does), else by the revision's name. A file appears under
 * {@code snapshots/} only by an atomic rename once its size and checksum are verified, so the snapshots never hold a
 * partial file.
 */
public final class ModelCache {

    /** A file in the cache: complete (under snapshots/) or partial (under partial/). */
    public record Entry(String repo, String snapshot, List<String> refs, String file, long size, boolean partial) {
    }

    private static final String PREFIX = "models--";
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
        try {
            String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
            return RepoPaths.isCommit(commit) ? Optional.of(commit) : Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void writeRef(String repo, String revision, String commit) throws IOException {
        Path ref = repoDir(repo).resolve("refs").resolve(revision);
        Files.createDirectories(ref.getParent());
        Path tmp = Files.createTempFile(ref.getParent(), ".ref", ".tmp");
        try {
            Files.writeString(tmp, commit + "\n", StandardCharsets.UTF_8);
            moveAtomically(tmp, ref);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The complete files of a snapshot, as '/'-separated paths relative to it. */
    List<String> snapshotFiles(String repo, String key) {
        Path dir = snapshotDir(repo, key);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile)
                    .map(p -> dir.relativize(p).toString().replace('\\', '/'))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
                String repo = repoDir.getFileName().toString().substring(PREFIX.length()).replace("--", "/");
                Map<String, List<String>> refsByCommit = refs(repoDir);
                for (String area : List.of("snapshots", "partial")) {
                    Path base = repoDir.resolve(area);
                    if (!Files.isDirectory(base)) {
                        continue;
                    }
                    try (DirectoryStream<Path> keys = Files.newDirectoryStream(base)) {
                        for (Path keyDir : keys) {
                            String key = keyDir.getFileName().toString();
                            List<String> refs = refsByCommit.getOrDefault(key, List.of());
                            try (Stream<Path> walk = Files.walk(keyDir)) {
                                for (Path f : walk.filter(Files::isRegularFile).sorted().toList()) {
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
        if (!Files.isDirectory(refsDir)) {
            return byCommit;
        }
        try (Stream<Path> walk = Files.walk(refsDir)) {
            for (Path ref : walk.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().endsWith(".tmp")).sorted().toList()) {
                String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
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
            List<String> names = mine.stream().map(Entry::file).distinct().toList();
            String chosen;
            try {
                chosen = switch (Selection.choose(ref.repo(), ref.file(), names)) {
                    case Selection.SingleFile single -> single.name();
                    case Selection.Directory ignored -> throw new IllegalStateException("a file was named");
                };
            } catch (HubException e) {
                throw new HubException(ref + " is not in the cache (" + root + "): " + e.getMessage());
            }
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
        if (!Files.exists(dir)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
