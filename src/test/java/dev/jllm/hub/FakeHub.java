package dev.jllm.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in for the Hugging Face Hub on the loopback interface, with the Hub's URL layout and headers: the model
 * API ({@code /api/models/REPO[/revision/REV]}), {@code /REPO/resolve/REV/FILE} serving small files itself after a
 * relative redirect to {@code /api/resolve-cache/...} (ETag: the git blob id) and redirecting LFS files (302, {@code X-Linked-Etag}: the SHA-256, {@code X-Linked-Size}) to a second
 * server on another port standing for the storage CDN (plain HTTP/1.1 on a socket, one request per connection, so a
 * cut transfer is a really closed connection). Both honour Range requests and log every request; they can be told to
 * misbehave: cut, stall, pause or corrupt a transfer, ignore ranges, answer 503, demand a token, or be killed.
 */
public final class FakeHub implements AutoCloseable {

    /** A request as a server saw it. */
    public record Request(String server, String method, String path, String range, String authorization) {
    }

    /** A repository: its commit and files (path to bytes), some stored as LFS. */
    public static final class Repo {
        final String name;
        final String commit;
        final Map<String, byte[]> files = new LinkedHashMap<>();
        final Set<String> lfs = ConcurrentHashMap.newKeySet();

        Repo(String name, String commit) {
            this.name = name;
            this.commit = commit;
        }

        public Repo file(String path, byte[] bytes, boolean largeFile) {
            files.put(path, bytes);
            if (largeFile) {
                lfs.add(path);
            }
            return this;
        }

        public Repo file(String path, Path source, boolean largeFile) {
            try {
                return file(path, Files.readAllBytes(source), largeFile);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d*)");

    private final HttpServer hub;
    private final ServerSocket cdn;
    private final Set<Socket> openSockets = ConcurrentHashMap.newKeySet();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
    private final List<Request> log = new CopyOnWriteArrayList<>();

    // Faults, applied to the bodies the CDN sends (the LFS files).
    private volatile long cutAfter = -1;
    private final AtomicInteger cutsLeft = new AtomicInteger();
    private volatile long stallAfter = -1;
    private final AtomicInteger stallsLeft = new AtomicInteger();
    private final AtomicInteger stallsHeld = new AtomicInteger();
    private final CountDownLatch stallReleased = new CountDownLatch(1);
    private volatile long corruptAt = -1;
    private volatile boolean ignoreRange;
    private volatile boolean corruptSmallFiles;
    private volatile long pauseAfter = -1;
    private final CountDownLatch paused = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);
    // Faults of the Hub server itself.
    private final AtomicInteger unavailableLeft = new AtomicInteger();
    private volatile String requiredToken;

    public FakeHub() throws IOException {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        hub = HttpServer.create(new InetSocketAddress(loopback, 0), 0);
        cdn = new ServerSocket(0, 50, loopback);
        hub.setExecutor(executor);
        hub.createContext("/", this::handleHub);
        hub.start();
        executor.submit(this::acceptCdn);
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + hub.getAddress().getPort());
    }

    public URI cdnEndpoint() {
        return URI.create("http://127.0.0.1:" + cdn.getLocalPort());
    }

    public Repo repo(String name, String commit) {
        Repo r = new Repo(name, commit);
        repos.put(name, r);
        return r;
    }

    public List<Request> requests() {
        return List.copyOf(log);
    }

    public List<Request> requests(String server) {
        return log.stream().filter(r -> r.server().equals(server)).toList();
    }

    /** The next {@code times} CDN bodies end (the connection closes) after {@code bytes} bytes. */
    public void cutAfter(long bytes, int times) {
        cutAfter = bytes;
        cutsLeft.set(times);
    }

    /**
     * The next {@code times} CDN bodies stop sending after {@code bytes} bytes and hold their connection open, sending
     * nothing, until {@link #releaseStalls()} (or the server is closed): only the client can end such a transfer.
     */
    public void stallAfter(long bytes, int times) {
        stallAfter = bytes;
        stallsLeft.set(times);
    }

    /** How many bodies are stalled right now, their connections held open. */
    public int stallsHeld() {
        return stallsHeld.get();
    }

    /** Ends every stall: the stalled bodies close their connections without sending more. */
    public void releaseStalls() {
        stallReleased.countDown();
    }

    /** Every CDN body has the byte at this file offset flipped (-1: none). */
    public void corruptAt(long offset) {
        corruptAt = offset;
    }

    /** The small files the Hub serves itself come with their last byte changed. */
    public void corruptSmallFiles(boolean corrupt) {
        corruptSmallFiles = corrupt;
    }

    public void ignoreRange(boolean ignore) {
        ignoreRange = ignore;
    }

    /** The next CDN body stops after {@code bytes} bytes until {@link #kill()}; {@link #awaitPaused} waits for that. */
    public void pauseAfter(long bytes) {
        pauseAfter = bytes;
    }

    public boolean awaitPaused(long seconds) throws InterruptedException {
        return paused.await(seconds, TimeUnit.SECONDS);
    }

    /** The next {@code times} Hub requests answer 503. */
    public void unavailable(int times) {
        unavailableLeft.set(times);
    }

    public void requireToken(String token) {
        requiredToken = token;
    }

    /** Stops both servers at once, closing every connection, as a crash would. */
    public void kill() {
        hub.stop(0);
        try {
            cdn.close();
        } catch (IOException e) {
            // already closed
        }
        for (Socket s : openSockets) {
            try {
                s.close();
            } catch (IOException e) {
                // already closed
            }
        }
        released.countDown();
        stallReleased.countDown();
    }

    @Override
    public void close() {
        kill();
        executor.shutdownNow();
    }

    // ---- the Hub ----

    private void handleHub(HttpExchange x) throws IOException {
        try (x) {
            String path = x.getRequestURI().getRawPath();
            String auth = x.getRequestHeaders().getFirst("Authorization");
            log.add(new Request("hub", x.getRequestMethod(), path, x.getRequestHeaders().getFirst("Range"), auth));
            if (unavailableLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                empty(x, 503);
                return;
            }
            if (requiredToken != null && !("Bearer " + requiredToken).equals(auth)) {
                empty(x, 401);
                return;
            }
            if (path.startsWith("/api/resolve-cache/models/")) {
                resolveCache(x, path.substring("/api/resolve-cache/models/".length()));
                return;
            }
            if (path.startsWith("/api/models/")) {
                listing(x, path.substring("/api/models/".length()));
                return;
            }
            int resolve = path.indexOf("/resolve/");
            Repo repo = resolve < 0 ? null : repos.get(path.substring(1, resolve));
            if (repo == null) {
                empty(x, 404);
                return;
            }
            String rest = path.substring(resolve + "/resolve/".length());
            int slash = rest.indexOf('/');
            String revision = slash < 0 ? "" : decode(rest.substring(0, slash));
            String file = slash < 0 ? "" : decode(rest.substring(slash + 1));
            byte[] bytes = repo.files.get(file);
            if (!(revision.equals("main") || revision.equals(repo.commit)) || bytes == null) {
                empty(x, 404);
                return;
            }
            if (repo.lfs.contains(file)) {
                String sha = sha256(bytes);
                blobs.put(sha, bytes);
                x.getResponseHeaders().set("X-Linked-Etag", "\"" + sha + "\"");
                x.getResponseHeaders().set("X-Linked-Size", Long.toString(bytes.length));
                x.getResponseHeaders().set("ETag", "\"" + sha + "\"");
                x.getResponseHeaders().set("Location", cdnEndpoint() + "/blobs/" + sha + "?X-Amz-Signature=s3cr3t");
                empty(x, 302);
                return;
            }
            // Small files go through a relative redirect, as the Hub's resolve-cache does, then come with their git blob id.
            x.getResponseHeaders().set("Location", "/api/resolve-cache/models/" + repo.name + "/" + repo.commit + "/" + rest.substring(slash + 1));
            empty(x, 307);
        }
    }

    private void resolveCache(HttpExchange x, String rest) throws IOException {
        for (Repo repo : repos.values()) {
            String prefix = repo.name + "/" + repo.commit + "/";
            byte[] bytes = rest.startsWith(prefix) ? repo.files.get(decode(rest.substring(prefix.length()))) : null;
            if (bytes != null) {
                x.getResponseHeaders().set("ETag", "\"" + gitBlobId(bytes) + "\"");
                serveSmall(x, bytes);
                return;
            }
        }
        empty(x, 404);
    }

    private void listing(HttpExchange x, String rest) throws IOException {
        for (Repo repo : repos.values()) {
            String revision = rest.equals(repo.name) ? "main"
                    : rest.startsWith(repo.name + "/revision/") ? decode(rest.substring(repo.name.length() + "/revision/".length()))
                    : null;
            if (revision == null) {
                continue;
            }
            if (!revision.equals("main") && !revision.equals(repo.commit)) {
                empty(x, 404);
                return;
            }
            ObjectNode root = JSON.createObjectNode();
            root.put("id", repo.name);
            root.put("modelId", repo.name);
            root.put("sha", repo.commit);
            ArrayNode siblings = root.putArray("siblings");
            repo.files.keySet().forEach(f -> siblings.addObject().put("rfilename", f));
            byte[] body = JSON.writeValueAsBytes(root);
            x.getResponseHeaders().set("Content-Type", "application/json");
            x.sendResponseHeaders(200, body.length);
            x.getResponseBody().write(body);
            return;
        }
        empty(x, 404);
    }

    // ---- the storage the LFS files redirect to: plain HTTP/1.1 on a socket, so a transfer can really be cut ----

    private void acceptCdn() {
        while (!cdn.isClosed()) {
            try {
                Socket s = cdn.accept();
                openSockets.add(s);
                executor.submit(() -> handleCdn(s));
            } catch (IOException e) {
                return; // closed by kill()
            }
        }
    }

    private void handleCdn(Socket socket) {
        try (socket) {
            socket.setSoTimeout(20_000);
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (head.size() < 16384) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                head.write(b);
                String h = head.toString(StandardCharsets.ISO_8859_1);
                if (h.endsWith("\r\n\r\n")) {
                    break;
                }
            }
            String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
            String[] requestLine = lines[0].split(" ");
            Map<String, String> headers = new HashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon > 0) {
                    headers.put(lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).strip());
                }
            }
            String path = URI.create(requestLine[1]).getRawPath();
            log.add(new Request("cdn", requestLine[0], path, headers.get("range"), headers.get("authorization")));
            byte[] bytes = path.startsWith("/blobs/") ? blobs.get(path.substring("/blobs/".length())) : null;
            OutputStream out = new BufferedOutputStream(socket.getOutputStream());
            if (bytes == null) {
                out.write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
                return;
            }
            Slice slice = slice(bytes, headers.get("range"));
            StringBuilder response = new StringBuilder("HTTP/1.1 " + slice.status() + " " + reason(slice.status()) + "\r\n");
            response.append("ETag: \"cdn-").append(bytes.length).append("\"\r\nAccept-Ranges: bytes\r\nConnection: close\r\n");
            if (slice.contentRange() != null) {
                response.append("Content-Range: ").append(slice.contentRange()).append("\r\n");
            }
            byte[] body = slice.body();
            if (corruptAt >= slice.start() && corruptAt < slice.start() + body.length) {
                body[(int) (corruptAt - slice.start())] ^= 0x5a;
            }
            response.append("Content-Length: ").append(body.length).append("\r\n\r\n");
            out.write(response.toString().getBytes(StandardCharsets.ISO_8859_1));
            if (!requestLine[0].equals("HEAD")) {
                sendWithFaults(out, body);
            }
            out.flush();
        } catch (IOException e) {
            // the client went away, or the server was killed
        } finally {
            openSockets.remove(socket);
        }
    }

    private void sendWithFaults(OutputStream os, byte[] body) throws IOException {
        long cut = cutsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0 ? cutAfter : -1;
        long stall = stallsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0 ? stallAfter : -1;
        long pause = pauseAfter;
        pauseAfter = -1;
        int at = 0;
        while (at < body.length) {
            int n = Math.min(16 * 1024, body.length - at);
            for (long mark : new long[] {cut, stall, pause}) {
                if (mark > at && mark < at + n) {
                    n = (int) (mark - at);
                }
            }
            os.write(body, at, n);
            at += n;
            if (at == cut) {
                os.flush();
                return; // the caller closes the socket: the body ends short of its Content-Length
            }
            if (at == stall) {
                os.flush();
                stallsHeld.incrementAndGet();
                try {
                    stallReleased.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    stallsHeld.decrementAndGet();
                }
                return; // the body never completes
            }
            if (at == pause) {
                os.flush();
                paused.countDown();
                try {
                    released.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return;
            }
        }
    }

    /** What to send for a Range header (or none): status, the bytes, and the Content-Range. */
    private record Slice(int status, long start, byte[] body, String contentRange) {
    }

    private Slice slice(byte[] bytes, String range) {
        if (range == null || ignoreRange) {
            return new Slice(200, 0, bytes.clone(), null);
        }
        Matcher m = RANGE.matcher(range);
        if (!m.matches()) {
            return new Slice(416, 0, new byte[0], "bytes */" + bytes.length);
        }
        long start = Long.parseLong(m.group(1));
        long end = m.group(2).isEmpty() ? bytes.length - 1L : Math.min(bytes.length - 1L, Long.parseLong(m.group(2)));
        if (start >= bytes.length) {
            return new Slice(416, start, new byte[0], "bytes */" + bytes.length);
        }
        return new Slice(206, start, Arrays.copyOfRange(bytes, (int) start, (int) end + 1),
                "bytes " + start + "-" + end + "/" + bytes.length);
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 206 -> "Partial Content";
            case 416 -> "Range Not Satisfiable";
            default -> "Status";
        };
    }

    /** A small file served by the Hub itself (no faults), with Range support. */
    private void serveSmall(HttpExchange x, byte[] bytes) throws IOException {
        Slice slice = slice(bytes, x.getRequestHeaders().getFirst("Range"));
        x.getResponseHeaders().set("Accept-Ranges", "bytes");
        if (slice.contentRange() != null) {
            x.getResponseHeaders().set("Content-Range", slice.contentRange());
        }
        if (x.getRequestMethod().equals("HEAD") || slice.status() == 416) {
            x.getResponseHeaders().set("Content-Length", Long.toString(slice.body().length));
            x.sendResponseHeaders(slice.status(), -1);
            return;
        }
        byte[] body = slice.body();
        if (corruptSmallFiles && body.length > 0) {
            body[body.length - 1] ^= 0x20;
        }
        x.sendResponseHeaders(slice.status(), body.length);
        x.getResponseBody().write(body);
    }

    private static void empty(HttpExchange x, int status) throws IOException {
        x.sendResponseHeaders(status, -1);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    public static String sha256(byte[] bytes) {
        return hex("SHA-256", bytes);
    }

    /** The id git gives a file's contents: SHA-1 of "blob LENGTH\0" and the bytes (the Hub's ETag of a small file). */
    static String gitBlobId(byte[] bytes) {
        byte[] header = ("blob " + bytes.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[header.length + bytes.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(bytes, 0, all, header.length, bytes.length);
        return hex("SHA-1", all);
    }

    private static String hex(String algorithm, byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
