package dev.jllm.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
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
 * the Hub announced. A transfer that fails verification is deleted.
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
        if (Files.isRegularFile(target)) {
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
        Files.createDirectories(part.getParent());
        boolean verified = false;
        try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            channel = ch;
            try (FileLock lock = lockOrFail(part)) {
                have = channel.size();
                hashExisting();
                transferWithRetries();
                verify(part);
                channel.force(true);
                verified = true;
            }
        } finally {
            if (!verified && expectedMismatch) {
                Files.deleteIfExists(part);
            }
        }
        Files.createDirectories(target.getParent());
        ModelCache.moveAtomically(part, target);
        pruneEmptyParents(part);
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

    private void transferWithRetries() {
        HubClient.Options options = client.options();
        for (int attempt = 1; ; attempt++) {
            long before = have;
            try {
                if (transferOnce()) {
                    return;
                }
                throw new IOException("the transfer ended early, at " + have + " of " + expectedSize + " bytes");
            } catch (IOException e) {
                if (have > before) {
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
    private boolean transferOnce() throws IOException {
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

    private void copy(InputStream body) throws IOException {
        byte[] buffer = new byte[BUFFER];
        try (Watchdog watchdog = new Watchdog(body, client.options().readTimeout())) {
            try {
                for (int n; (n = body.read(buffer)) >= 0; ) {
                    watchdog.touch();
                    if (expectedSize >= 0 && have + n > expectedSize) {
                        expectedMismatch = true;
                        throw new HubException(repo + ":" + file + ": the server sent more than the " + expectedSize
                                + " bytes announced; the download was discarded");
                    }
                    ByteBuffer b = ByteBuffer.wrap(buffer, 0, n);
                    while (b.hasRemaining()) {
                        channel.write(b, have + b.position());
                    }
                    digest.update(buffer, 0, n);
                    have += n;
                    listener.progress(file, have);
                }
            } catch (IOException e) {
                if (watchdog.fired()) {
                    throw new java.net.http.HttpTimeoutException(String.format(java.util.Locale.ROOT, "no data for %.1f s",
                            client.options().readTimeout().toMillis() / 1e3));
                }
                throw e;
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

    private void pruneEmptyParents(Path part) {
        Path stop = cache.repoDir(repo);
        for (Path d = part.getParent(); d != null && d.startsWith(stop) && !d.equals(stop); d = d.getParent()) {
            try {
                Files.delete(d);
            } catch (IOException e) {
                return; // not empty (another download) or already gone
            }
        }
    }

    /** Closes a body that has stalled for longer than the read timeout, so a blocked read fails and is retried. */
    private static final class Watchdog implements AutoCloseable {
        private final InputStream body;
        private final long timeoutNanos;
        private final Thread thread;
        private volatile long last = System.nanoTime();
        private volatile boolean done;
        private volatile boolean fired;

        Watchdog(InputStream body, Duration timeout) {
            this.body = body;
            this.timeoutNanos = timeout.toNanos();
            Duration tick = Duration.ofMillis(Math.max(10, Math.min(500, timeout.toMillis() / 4)));
            this.thread = Thread.ofVirtual().name("jllm-download-watchdog").start(() -> {
                while (!done) {
                    try {
                        Thread.sleep(tick);
                    } catch (InterruptedException e) {
                        return;
                    }
                    if (!done && System.nanoTime() - last > timeoutNanos) {
                        fired = true;
                        try {
                            body.close();
                        } catch (IOException ignored) {
                            // closing is all we can do
                        }
                        return;
                    }
                }
            });
        }

        void touch() {
            last = System.nanoTime();
        }

        boolean fired() {
            return fired;
        }

        @Override
        public void close() {
            done = true;
            thread.interrupt();
        }
    }
}
