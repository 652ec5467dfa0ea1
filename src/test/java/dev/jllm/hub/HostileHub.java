package dev.jllm.hub;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A Hub mirror that does not play by the rules, on the loopback interface: plain HTTP/1.1 on a socket so that each
 * answer's bytes and timing are the test's to choose (chunked bodies that never end, a byte now and then, sizes that
 * lie). Answers are chosen by path prefix; a path no answer matches gets a 404.
 */
public final class HostileHub implements AutoCloseable {

    /** Writes a whole answer (status line, headers, body) to the socket; may never return. */
    @FunctionalInterface
    public interface Answer {
        void send(OutputStream out) throws IOException, InterruptedException;
    }

    private final ServerSocket server;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<String, Answer> answers = new ConcurrentHashMap<>();
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();

    public HostileHub() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        executor.submit(this::accept);
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    /** Answers requests whose path starts with {@code prefix}. */
    public HostileHub on(String prefix, Answer answer) {
        answers.put(prefix, answer);
        return this;
    }

    /** A model listing of {@code files} at {@code commit}, sent whole. */
    public static Answer listing(String commit, String... files) {
        StringBuilder json = new StringBuilder("{\"sha\":\"" + commit + "\",\"siblings\":[");
        for (int i = 0; i < files.length; i++) {
            json.append(i > 0 ? "," : "").append("{\"rfilename\":\"").append(escapeJson(files[i])).append("\"}");
        }
        byte[] body = json.append("]}").toString().getBytes(StandardCharsets.UTF_8);
        return out -> {
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
        };
    }

    /** 200 with {@code headers}, then a chunked body repeating {@code chunk} for ever. */
    public static Answer endless(String headers, byte[] start, byte[] chunk) {
        return out -> {
            out.write(("HTTP/1.1 200 OK\r\n" + headers + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            writeChunk(out, start);
            while (true) {
                writeChunk(out, chunk);
            }
        };
    }

    /** 200 with {@code headers}, then a chunked body of one byte every {@code millis}, for ever. */
    public static Answer drip(String headers, long millis) {
        return out -> {
            out.write(("HTTP/1.1 200 OK\r\n" + headers + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            while (true) {
                writeChunk(out, new byte[] {'['});
                out.flush();
                Thread.sleep(millis);
            }
        };
    }

    public static Answer status(int status) {
        return out -> out.write(("HTTP/1.1 " + status + " Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
    }

    private static void writeChunk(OutputStream out, byte[] chunk) throws IOException {
        if (chunk.length == 0) {
            return;
        }
        out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(chunk);
        out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
    }

    private static String escapeJson(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c < 0x20 || c == '"' || c == '\\') {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                sockets.add(s);
                executor.submit(() -> handle(s));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void handle(Socket socket) {
        try (socket) {
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (head.size() < 16384 && !head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                head.write(b);
            }
            String path = URI.create(head.toString(StandardCharsets.ISO_8859_1).split(" ")[1]).getRawPath();
            Answer answer = answers.entrySet().stream().filter(e -> path.startsWith(e.getKey()))
                    .max(Map.Entry.comparingByKey((a, b) -> Integer.compare(a.length(), b.length())))
                    .map(Map.Entry::getValue).orElse(status(404));
            OutputStream out = socket.getOutputStream();
            answer.send(out);
            out.flush();
        } catch (IOException | InterruptedException e) {
            // the client went away (as it should, from an answer that never ends)
        } finally {
            sockets.remove(socket);
        }
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException e) {
            // closed
        }
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException e) {
                // closed
            }
        }
        executor.shutdownNow();
    }
}
