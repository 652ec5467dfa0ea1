package dev.jllm.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One file from the Hub into the cache: written to {@code partial/.../FILE.part}, resumed with a Range request after
 * an interruption, and moved under {@code snapshots/} by an atomic rename only once its size and SHA-256 match what
 * the Hub announced. A transfer that fails verification is deleted, and so is one that brought no byte (with the
 * folders it made). The server is not trusted: no byte past the announced size, at most
 * {@link HubClient.Limits#maxUnsizedFileBytes} when no size is announced, a minimum rate ({@link GuardedBody}), and
 * the {@code .part} file is opened without following links, under folders checked to be real ones.
 */
final class Download {

    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final Pattern UNSATISFIED_RANGE = Pattern.compile("bytes \\*/(\\d+)");
    private static final int BUFFER = 256 * 1024;

    private final HubClient client;
    private final ModelCache cache;
    private final TransferListener listener;
    private final String repo;
    private final String key;
    private final String urlRevision;
    private final String file;

    private final MessageDigest digest;
    private FileChannel channel;
    private long have;
    private long expectedSize = -1;
    private String expectedSha256;
    private String expectedGitBlobId;
    private boolean announced;
    /** Set when the bytes cannot be the announced file: the partial download is deleted rather than resumed. */
    private boolean expectedMismatch;

    private Download(HubClient client, ModelCache cache, TransferListener listener, String repo, String key,
                     String urlRevision, String file) {
        this.client = client;
        this.cache = cache;
        this.listener = listener;
        this.repo = repo;
        this.key = key;
        this.urlRevision = urlRevision;
        this.file = file;
        try {
            this.digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Fetches {@code file} of {@code repo} at {@code urlRevision} into the snapshot {@code key}, unless it is there
     * already, and returns its path in the cache.
     */
    static Path fetch(HubClient client, ModelCache cache, TransferListener listener, String repo, String key,
                      String urlRevision, String file) {
        Path target = cache.snapshotFile(repo, key, file);
        if (cache.isCachedFile(target)) { // a link or anything but a regular file there is refused
            listener.cached(file, target);
            return target;
        }
        try {
            return new Download(client, cache, listener, repo, key, urlRevision, file).run(target);
        } catch (IOException e) {
            throw new HubException(repo + ":" + file + ": cannot write to the cache (" + e.getMessage() + ")", e);
        }
    }

    private Path run(Path target) throws IOException {
        Path part = cache.partialFile(repo, key, file);
        cache.createDirectories(part.getParent());
        cache.requireRegularOrAbsent(part);
        boolean verified = false;
        boolean locked = false;
        // NOFOLLOW_LINKS: a link planted at the .part name makes the open fail instead of writing where it points
        try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            channel = ch;
            cache.requireRegularOrAbsent(part);
            try (FileLock lock = lockOrFail(part)) {
                locked = true;
                have = channel.size();
                hashExisting();
                transferWithRetries(part);
                verify(part);
                channel.force(true);
                verified = true;
            }
        } catch (FileSystemException e) {
            if (!locked && Files.isSymbolicLink(part)) {
                throw new HubException(part + ": a symbolic link in the model cache, which jllm does not follow"
                        + " (remove it)");
            }
            throw e;
        } finally {
            // a transfer that cannot be the file goes; so does one that brought nothing, with its folders
            if (locked && !verified && (expectedMismatch || have == 0)) {
                Files.deleteIfExists(part);
                cache.pruneEmptyParents(part, repo);
            }
        }
        cache.createDirectories(target.getParent());
        cache.requireRegularOrAbsent(target);
        ModelCache.moveAtomically(part, target);
        cache.pruneEmptyParents(part, repo);
        listener.finished(file, have, verifiedBy(), target);
        return target;
    }

    private FileLock lockOrFail(Path part) throws IOException {
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            throw new HubException(repo + ":" + file + ": another jllm is downloading it into " + part
                    + "; wait for it to finish");
        }
        return lock;
    }

    private void hashExisting() throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(BUFFER);
        long at = 0;
        while (at < have) {
            buffer.clear();
            int n = channel.read(buffer, at);
            if (n < 0) {
                break;
            }
            buffer.flip();
            digest.update(buffer);
            at += n;
        }
    }

    private void restartFromZero() throws IOException {
        channel.truncate(0);
        have = 0;
        digest.reset();
    }

    private void transferWithRetries(Path part) {
        HubClient.Options options = client.options();
        // progress worth fresh attempts: what the minimum rate brings in one window (a drip does not reset them)
        long worthResetting = Math.max(1,
                options.limits().minBytesPerSecond() * options.readTimeout().toMillis() / 1000);
        for (int attempt = 1; ; attempt++) {
            long before = have;
            try {
                if (transferOnce(part)) {
                    return;
                }
                throw new IOException("the transfer ended early, at " + have + " of " + expectedSize + " bytes");
            } catch (IOException e) {
                if (have - before >= worthResetting) {
                    attempt = 1; // progress was made: a flaky line gets a fresh set of attempts, bounded by the file size
                }
                if (!HubClient.retryable(e) || attempt >= options.maxAttempts()) {
                    String kept = have > 0 ? "; the " + have + " bytes received are kept in the cache and the next pull"
                            + " resumes from there" : "";
                    throw new HubException("cannot download " + repo + ":" + file + " from " + client.endpointText()
                            + ": " + HubClient.describe(e) + (attempt > 1 ? " (after " + attempt + " attempts)" : "") + kept, e);
                }
                Duration wait = client.backoff(attempt);
                listener.retrying(file, HubClient.describe(e), attempt + 1, options.maxAttempts(), wait);
                HubClient.sleep(wait);
            }
        }
    }

    /** One request: true when the file is complete on disk (as far as the server says). */
    private boolean transferOnce(Path part) throws IOException {
        HubClient.Opened opened = client.open(repo, urlRevision, file, have);
        HttpResponse<InputStream> r = opened.response();
        if (opened.sha256() != null) {
            expectedSha256 = opened.sha256();
        }
        if (opened.gitBlobId() != null) {
            expectedGitBlobId = opened.gitBlobId();
        }
        if (opened.size() >= 0) {
            expectedSize = opened.size();
        }
        try (InputStream body = r.body()) {
            switch (r.statusCode()) {
                case 416 -> {
                    // Nothing left past what is on disk: complete if the sizes agree, else start over.
                    Matcher m = UNSATISFIED_RANGE.matcher(r.headers().firstValue("Content-Range").orElse(""));
                    if (expectedSize < 0 && m.matches()) {
                        expectedSize = Long.parseLong(m.group(1));
                    }
                    if (expectedSize >= 0 && have == expectedSize) {
                        announce();
                        return true;
                    }
                    restartFromZero();
                    throw new IOException("the server cannot resume at byte " + have + "; starting over");
                }
                case 206 -> {
                    Matcher m = CONTENT_RANGE.matcher(r.headers().firstValue("Content-Range").orElse(""));
                    if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                        restartFromZero();
                        throw new IOException("the server resumed at another byte than asked; starting over");
                    }
                    if (expectedSize < 0 && !m.group(3).equals("*")) {
                        expectedSize = Long.parseLong(m.group(3));
                    }
                }
                default -> { // 200: the whole file, whatever was asked
                    if (have > 0) {
                        restartFromZero();
                    }
                    if (expectedSize < 0) {
                        expectedSize = r.headers().firstValueAsLong("Content-Length").orElse(-1);
                    }
                }
            }
            checkFreeSpace(part);
            announce();
            copy(body);
        }
        return expectedSize < 0 || have == expectedSize;
    }

    private void announce() {
        if (!announced) {
            announced = true;
            listener.started(file, expectedSize, have);
        }
    }

    /** Refuses a file the disk cannot hold before writing any of it (the bytes already received are kept). */
    private void checkFreeSpace(Path part) {
        if (expectedSize < 0) {
            return;
        }
        long free;
        try {
            free = Files.getFileStore(part.getParent()).getUsableSpace();
        } catch (IOException e) {
            return; // no figure for the free space: the write fails when the disk is full
        }
        if (expectedSize - have > free) {
            throw new HubException(String.format(Locale.ROOT, "%s:%s: the file has %d bytes, %d more than the %d free"
                    + " in the cache (%s)", repo, file, expectedSize, expectedSize - have - free, free,
                    part.getParent()));
        }
    }

    private void copy(InputStream body) throws IOException {
        byte[] buffer = new byte[BUFFER];
        HubClient.Limits limits = client.options().limits();
        long sized = expectedSize;
        long max = sized >= 0 ? sized - have : limits.maxUnsizedFileBytes() - have;
        try (GuardedBody in = new GuardedBody(body, Math.max(0, max), limit -> {
            expectedMismatch = true;
            return new HubException(repo + ":" + file + (sized >= 0
                    ? ": the server sent more than the " + sized + " bytes announced; the download was discarded"
                    : ": the server sent more than " + limits.maxUnsizedFileBytes() + " bytes without announcing a"
                            + " size; refused (the Hub announces the size of every large file)"));
        }, null, client.options().readTimeout(), limits.minBytesPerSecond())) {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
                while (b.hasRemaining()) {
                    channel.write(b, have + b.position());
                }
                digest.update(buffer, 0, n);
                have += n;
                listener.progress(file, have);
            }
        }
    }

    private void verify(Path part) throws IOException {
        if (expectedSize >= 0 && have != expectedSize) {
            expectedMismatch = true;
            throw new HubException(repo + ":" + file + ": the download has " + have + " bytes, the Hub announced "
                    + expectedSize + "; it was discarded, pull again");
        }
        String actual = HexFormat.of().formatHex(digest.digest());
        if (expectedSha256 != null && !expectedSha256.equals(actual.toLowerCase(Locale.ROOT))) {
            expectedMismatch = true;
            throw new HubException(repo + ":" + file + ": the download is corrupt (SHA-256 " + actual + ", the Hub"
                    + " announced " + expectedSha256 + "); it was discarded, pull again");
        }
        if (expectedSha256 == null && expectedGitBlobId != null) {
            // A small (non-LFS) file: the Hub's ETag is its git blob id, SHA-1 of "blob SIZE\0" and the bytes.
            String blobId = gitBlobId(part, have);
            if (!expectedGitBlobId.equals(blobId)) {
                expectedMismatch = true;
                throw new HubException(repo + ":" + file + ": the download is corrupt (git blob id " + blobId
                        + ", the Hub announced " + expectedGitBlobId + "); it was discarded, pull again");
            }
        }
    }

    /** Which checksum the file was verified against, for the user: "SHA-256", "git blob id" or null. */
    private String verifiedBy() {
        return expectedSha256 != null ? "SHA-256" : expectedGitBlobId != null ? "git blob id" : null;
    }

    private static String gitBlobId(Path file, long size) throws IOException {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        sha1.update(("blob " + size + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[BUFFER];
            for (int n; (n = in.read(buffer)) >= 0; ) {
                sha1.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha1.digest());
    }
}
