package dev.jllm.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Talks to the Hugging Face Hub (or a mirror) over {@link HttpClient}: the model listing
 * ({@code ENDPOINT/api/models/REPO[/revision/REV]}) and the files ({@code ENDPOINT/REPO/resolve/REV/FILE}), following
 * redirects itself so that it sees the Hub's {@code X-Linked-Etag}/{@code X-Linked-Size} before a redirect and sends
 * the token to the Hub only, never to the storage a large file redirects to. Retries transient failures with
 * exponential backoff.
 */
public final class HubClient implements AutoCloseable {

    public static final URI DEFAULT_ENDPOINT = URI.create("https://huggingface.co");

    /**
     * What jllm accepts from a server it does not trust (the endpoint can be any mirror).
     *
     * @param maxListingBytes     the largest listing answer read; a longer one is refused
     * @param maxUnsizedFileBytes the largest file taken when neither the Hub nor the answer announces its size (the
     *                            Hub announces the size of every large, LFS-stored file)
     * @param minBytesPerSecond   a transfer slower than this over a whole read-timeout window is cut and retried
     */
    public record Limits(long maxListingBytes, long maxUnsizedFileBytes, long minBytesPerSecond) {

        public static final Limits DEFAULT = new Limits(16L << 20, 64L << 20, 1024);

        public Limits {
            if (maxListingBytes < 1 || maxUnsizedFileBytes < 1 || minBytesPerSecond < 0) {
                throw new IllegalArgumentException("limits must be positive: " + maxListingBytes + ", "
                        + maxUnsizedFileBytes + ", " + minBytesPerSecond);
            }
        }
    }

    /**
     * How to reach the Hub.
     *
     * @param endpoint       the Hub or a mirror, e.g. https://huggingface.co
     * @param token          an access token sent as {@code Authorization: Bearer} to the endpoint only; null for none
     * @param connectTimeout how long to wait for a connection
     * @param readTimeout    how long to wait for an answer; a listing must arrive whole within it, and a file transfer
     *                       must bring at least {@link Limits#minBytesPerSecond} in each window of this length
     * @param maxAttempts    attempts per request or file (1: no retry)
     * @param initialBackoff the wait before the second attempt; it doubles at each further attempt (at most 30 s)
     * @param limits         the size and rate limits
     */
    public record Options(URI endpoint, String token, Duration connectTimeout, Duration readTimeout, int maxAttempts,
                          Duration initialBackoff, Limits limits) {

        public Options {
            Objects.requireNonNull(endpoint, "endpoint");
            Objects.requireNonNull(limits, "limits");
            String scheme = endpoint.getScheme();
            if (scheme == null || !(scheme.equals("https") || scheme.equals("http")) || endpoint.getHost() == null) {
                throw new HubException("endpoint '" + endpoint + "': expected an http(s) URL such as " + DEFAULT_ENDPOINT);
            }
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1");
            }
            if (readTimeout.isNegative() || readTimeout.isZero()) {
                throw new IllegalArgumentException("the read timeout must be positive");
            }
            if (token != null && token.isBlank()) {
                token = null;
            }
        }

        public static Options defaults() {
            return new Options(DEFAULT_ENDPOINT, null, Duration.ofSeconds(20), Duration.ofSeconds(60), 4,
                    Duration.ofMillis(500), Limits.DEFAULT);
        }

        /** Endpoint and token from {@code HF_ENDPOINT} and {@code HF_TOKEN} (explicit values win when not null). */
        public static Options fromEnvironment(Map<String, String> env, String endpoint, String token) {
            Options d = defaults();
            String e = endpoint != null ? endpoint : env.get("HF_ENDPOINT");
            String t = token != null ? token : env.get("HF_TOKEN");
            return d.withEndpoint(e == null || e.isBlank() ? DEFAULT_ENDPOINT : parseEndpoint(e)).withToken(t);
        }

        public Options withEndpoint(URI e) {
            return new Options(e, token, connectTimeout, readTimeout, maxAttempts, initialBackoff, limits);
        }

        public Options withToken(String t) {
            return new Options(endpoint, t, connectTimeout, readTimeout, maxAttempts, initialBackoff, limits);
        }

        public Options withTimeouts(Duration connect, Duration read) {
            return new Options(endpoint, token, connect, read, maxAttempts, initialBackoff, limits);
        }

        public Options withRetries(int attempts, Duration backoff) {
            return new Options(endpoint, token, connectTimeout, readTimeout, attempts, backoff, limits);
        }

        public Options withLimits(Limits l) {
            return new Options(endpoint, token, connectTimeout, readTimeout, maxAttempts, initialBackoff, l);
        }

        @Override
        public String toString() { // never show the token
            return "Options[endpoint=" + endpoint + ", token=" + (token == null ? "none" : "set") + ", connectTimeout="
                    + connectTimeout + ", readTimeout=" + readTimeout + ", maxAttempts=" + maxAttempts + ", limits="
                    + limits + "]";
        }

        static URI parseEndpoint(String text) {
            String t = text.strip();
            while (t.endsWith("/")) {
                t = t.substring(0, t.length() - 1);
            }
            try {
                return new URI(t);
            } catch (java.net.URISyntaxException e) {
                throw new HubException("endpoint '" + text + "': not a URL (" + e.getReason() + ")");
            }
        }
    }

    /** The listing of a repository at a revision: the commit it resolves to (when the Hub says) and its files. */
    record Listing(String commit, List<String> files) {
    }

    /** A failure worth another attempt: a 429 or 5xx answer (network errors are IOExceptions already). */
    static final class TransientHttpException extends IOException {
        TransientHttpException(String message) {
            super(message);
        }
    }

    /**
     * An opened file: the response whose body carries the bytes, and what the Hub said the whole file is: its SHA-256
     * (an LFS file's oid), or the git blob id of a small file, and its size (-1 when unknown).
     */
    record Opened(HttpResponse<InputStream> response, String sha256, String gitBlobId, long size) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_REDIRECTS = 10;

    private final Options options;
    private final HttpClient http;

    public HubClient(Options options) {
        this.options = options;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(options.connectTimeout())
                .proxy(java.net.ProxySelector.getDefault()) // -Dhttps.proxyHost=... or -Djava.net.useSystemProxies=true
                .build();
    }

    public Options options() {
        return options;
    }

    String endpointText() {
        return options.endpoint().toString();
    }

    URI fileUri(String repo, String revision, String file) {
        return URI.create(endpointText() + "/" + repo + "/resolve/" + RepoPaths.encodeSegment(revision) + "/"
                + RepoPaths.encodePath(file));
    }

    URI listingUri(String repo, String revision) {
        String base = endpointText() + "/api/models/" + repo;
        return URI.create(revision.equals("main") ? base : base + "/revision/" + RepoPaths.encodeSegment(revision));
    }

    /**
     * The repository's files at a revision, from the Hub's API, with retries. The answer is read as a stream: at most
     * {@link Limits#maxListingBytes}, all of it within the read timeout.
     */
    Listing listing(String repo, String revision, TransferListener listener) {
        URI uri = listingUri(repo, revision);
        String what = "the listing of " + repo;
        return withRetries(what, listener, () -> {
            HttpResponse<InputStream> r = send(uri, "GET", -1, HttpResponse.BodyHandlers.ofInputStream()).response();
            int status = r.statusCode();
            if (status != 200) {
                r.body().close();
                throw failure(status, repo, revision, null);
            }
            byte[] body;
            try (GuardedBody in = new GuardedBody(r.body(), options.limits().maxListingBytes(),
                    max -> new HubException(where(uri) + " answered with a listing larger than " + max
                            + " bytes; refused"), options.readTimeout(), options.readTimeout(), 0)) {
                body = in.readAllBytes();
            }
            JsonNode root;
            try {
                root = JSON.readTree(body);
            } catch (IOException e) {
                throw new HubException(where(uri) + " did not answer with the JSON of a model listing");
            }
            JsonNode siblings = root == null ? null : root.get("siblings");
            if (siblings == null || !siblings.isArray()) {
                throw new HubException(where(uri) + " answered without a 'siblings' list of files");
            }
            List<String> files = new ArrayList<>();
            for (JsonNode s : siblings) {
                JsonNode name = s.get("rfilename");
                if (name != null && name.isTextual()) {
                    files.add(RepoPaths.check(name.asText(), repo + " lists '" + name.asText() + "'"));
                }
            }
            JsonNode sha = root.get("sha");
            String commit = sha != null && sha.isTextual() && RepoPaths.isCommit(sha.asText()) ? sha.asText() : null;
            return new Listing(commit, List.copyOf(files));
        });
    }

    /**
     * Requests a file from byte {@code from} on (0: all of it), following redirects. Answers 200, 206 and 416 come
     * back to the caller; others become a {@link HubException} or, when worth retrying, a
     * {@link TransientHttpException}.
     */
    Opened open(String repo, String revision, String file, long from) throws IOException {
        Hop<InputStream> hop = send(fileUri(repo, revision, file), "GET", from, HttpResponse.BodyHandlers.ofInputStream());
        HttpResponse<InputStream> r = hop.response();
        int status = r.statusCode();
        if (status != 200 && status != 206 && status != 416) {
            r.body().close();
            throw failure(status, repo, revision, file);
        }
        return new Opened(r, hop.sha256(), hop.sha256() == null ? hop.gitBlobId() : null, hop.size());
    }

    /** The final response of a request and what the Hub's own answers said of the file. */
    private record Hop<T>(HttpResponse<T> response, String sha256, String gitBlobId, long size) {
    }

    private <T> Hop<T> send(URI start, String method, long from, HttpResponse.BodyHandler<T> handler) throws IOException {
        URI uri = start;
        String sha256 = null;
        String gitBlobId = null;
        long size = -1;
        for (int hops = 0; ; hops++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(options.readTimeout()).method(method,
                    HttpRequest.BodyPublishers.noBody()).header("User-Agent", "jllm/0.1");
            if (from > 0) {
                b.header("Range", "bytes=" + from + "-");
            }
            if (options.token() != null && sameOrigin(uri, options.endpoint())) {
                b.header("Authorization", "Bearer " + options.token());
            }
            HttpResponse<T> r;
            try {
                r = http.send(b.build(), handler);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted");
            }
            // The Hub's own answers (the endpoint's origin, relative redirects included) name the file: an LFS file's
            // SHA-256 and size in X-Linked-Etag/X-Linked-Size, a small file's git blob id in its ETag. The storage an
            // LFS file redirects to has ETags of its own, which mean nothing here.
            if (sameOrigin(uri, options.endpoint())) {
                String linked = hexTag(r.headers().firstValue("X-Linked-Etag"), 64);
                String etag = linked != null ? linked : hexTag(r.headers().firstValue("ETag"), 64);
                String blobId = etag != null ? null : hexTag(r.headers().firstValue("ETag"), 40);
                if (etag != null || blobId != null) {
                    sha256 = etag;
                    gitBlobId = blobId;
                }
                long linkedSize = r.headers().firstValueAsLong("X-Linked-Size").orElse(-1);
                if (linkedSize >= 0) {
                    size = linkedSize;
                }
            }
            int status = r.statusCode();
            if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
                closeBody(r);
                Optional<String> location = r.headers().firstValue("Location");
                if (location.isEmpty()) {
                    throw new HubException(where(uri) + " answered " + status + " without a Location to follow");
                }
                if (hops >= MAX_REDIRECTS) {
                    throw new HubException(where(start) + ": more than " + MAX_REDIRECTS + " redirects");
                }
                uri = uri.resolve(location.get());
                continue;
            }
            return new Hop<>(r, sha256, gitBlobId, size);
        }
    }

    private static void closeBody(HttpResponse<?> r) throws IOException {
        if (r.body() instanceof InputStream in) {
            in.close();
        }
    }

    /**
     * The hex digest of {@code digits} digits in an ETag value ({@code "hex"} or {@code W/"hex"}): 64 for a SHA-256,
     * 40 for a git blob id; null when the tag is something else.
     */
    static String hexTag(Optional<String> etag, int digits) {
        if (etag.isEmpty()) {
            return null;
        }
        String t = etag.get().strip();
        if (t.startsWith("W/")) {
            t = t.substring(2);
        }
        t = t.replace("\"", "").toLowerCase(Locale.ROOT);
        return t.matches("[0-9a-f]{" + digits + "}") ? t : null;
    }

    static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost())
                && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : u.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    /**
     * An error answer: returns the exception to retry on for 408, 429 and 5xx; throws a one-line
     * {@link HubException} for the others.
     */
    private IOException failure(int status, String repo, String revision, String file) {
        if (status == 408 || status == 429 || status >= 500) {
            return new TransientHttpException(endpointText() + " answered " + status);
        }
        String subject = file == null ? repo + " (revision " + revision + ")" : repo + ":" + file + " (revision " + revision + ")";
        String message = switch (status) {
            case 401 -> subject + ": the Hub answered 401 Unauthorized: the repository is private or gated, or does not"
                    + " exist; " + (options.token() == null ? "set HF_TOKEN (or --token) to a token that can read it"
                    : "the token given was refused");
            case 403 -> subject + ": the Hub answered 403 Forbidden: accept the model's terms on its page and use a token"
                    + " that has access";
            case 404 -> subject + ": not found on " + endpointText();
            default -> subject + ": " + endpointText() + " answered HTTP " + status;
        };
        throw new HubException(message);
    }

    interface Call<T> {
        T call() throws IOException;
    }

    /** Runs a request, retrying network failures and transient answers with exponential backoff. */
    <T> T withRetries(String what, TransferListener listener, Call<T> call) {
        for (int attempt = 1; ; attempt++) {
            try {
                return call.call();
            } catch (IOException e) {
                if (!retryable(e) || attempt >= options.maxAttempts()) {
                    throw new HubException("cannot get " + what + " from " + endpointText() + ": " + describe(e)
                            + (attempt > 1 ? " (after " + attempt + " attempts)" : ""), e);
                }
                Duration wait = backoff(attempt);
                listener.retrying(what, describe(e), attempt + 1, options.maxAttempts(), wait);
                sleep(wait);
            }
        }
    }

    Duration backoff(int attempt) {
        long millis = options.initialBackoff().toMillis() << Math.min(attempt - 1, 20);
        return Duration.ofMillis(Math.min(millis, 30_000));
    }

    static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("interrupted");
        }
    }

    /** Worth another attempt: anything but a host name that does not resolve or an interrupt. */
    static boolean retryable(IOException e) {
        if (e instanceof java.io.InterruptedIOException && !(e instanceof HttpTimeoutException)) {
            return false;
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnresolvedAddressException || t instanceof UnknownHostException) {
                return false;
            }
        }
        return true;
    }

    /** A short description of a network failure; never includes request headers (and so never the token). */
    static String describe(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnresolvedAddressException || t instanceof UnknownHostException) {
                return "the host name does not resolve (no network?)";
            }
        }
        if (e instanceof HttpTimeoutException) {
            return e.getMessage() != null ? e.getMessage() : "timed out";
        }
        if (e instanceof ConnectException) {
            return "connection refused or unreachable";
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m.replace('\n', ' ');
    }

    private static String where(URI uri) {
        return uri.getScheme() + "://" + uri.getRawAuthority() + uri.getRawPath(); // no query: storage URLs are signed
    }

    @Override
    public void close() {
        http.close();
    }
}
