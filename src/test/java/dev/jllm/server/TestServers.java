package dev.jllm.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.cli.Main;
import dev.jllm.engine.Model;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * In-process servers on stories260K.gguf for the server tests (port 0, loopback), kept for the whole test run (one per
 * configuration), and the small HTTP helpers the tests share.
 */
final class TestServers {

    static final ObjectMapper JSON = new ObjectMapper();
    static final String MODEL = "stories260K.gguf";
    private static final Map<String, Running> SERVERS = new ConcurrentHashMap<>();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    private TestServers() {
    }

    record Running(JllmServer server, Model model) {
        String url() {
            return server.url();
        }
    }

    /** The usual server: 4 slots of 256 positions, the llama2 chat template, no API key. */
    static Running standard() {
        return get("standard", o -> o.withParallel(4, 1024));
    }

    /** 2 slots, 20 ms between steps: generations last long enough to act on them while they run. */
    static Running slow() {
        return get("slow", o -> o.withParallel(2, 512).withStepDelay(20));
    }

    /** A server built from the defaults (one slot of 1024 positions, port 0) changed by {@code configure}. */
    static synchronized Running get(String name, UnaryOperator<ServerOptions> configure) {
        Running r = SERVERS.get(name);
        if (r != null) {
            return r;
        }
        ServerOptions options = configure.apply(ServerOptions.defaults(1024, MODEL).withPort(0));
        Model model = Model.load(SharedData.model(MODEL), null);
        try {
            JllmServer server = JllmServer.bind(options, new PrintStream(new ByteArrayOutputStream(), true,
                    StandardCharsets.UTF_8));
            server.serve(model, ChatTemplate.builtin("llama2"));
            r = new Running(server, model);
        } catch (IOException e) {
            model.close();
            throw new UncheckedIOException(e);
        }
        SERVERS.put(name, r);
        return r;
    }

    /** The text {@code jllm generate --format json} gives for these arguments (run in-process). */
    static String generate(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of("generate", "-m", SharedData.model(MODEL).toString(),
                "--format", "json"));
        all.addAll(List.of(args));
        int code = Main.run(all.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        if (code != 0) {
            throw new AssertionError("jllm generate failed (" + code + "): " + err.toString(StandardCharsets.UTF_8));
        }
        try {
            return JSON.readTree(out.toString(StandardCharsets.UTF_8)).get("text").asText();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    record Response(int status, JsonNode body, HttpResponse<String> raw) {
        String header(String name) {
            return raw.headers().firstValue(name).orElse(null);
        }
    }

    static Response post(String url, String path, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
        if (headers.length > 0) {
            b.headers(headers);
        }
        return send(b.build());
    }

    static Response get(String url, String path, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return send(b.build());
    }

    private static Response send(HttpRequest request) {
        try {
            HttpResponse<String> r = HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            JsonNode body = null;
            String type = r.headers().firstValue("Content-Type").orElse("");
            if (type.startsWith("application/json")) {
                body = JSON.readTree(r.body());
            }
            return new Response(r.statusCode(), body, r);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The {@code data:} payloads of a server-sent event stream, in order ({@code [DONE]} included). */
    static List<String> events(String stream) {
        List<String> out = new ArrayList<>();
        for (String event : stream.split("\n\n")) {
            for (String line : event.split("\n")) {
                if (line.startsWith("data: ")) {
                    out.add(line.substring(6));
                }
            }
        }
        return out;
    }

    /** The concatenated delta contents (chat) or texts (completions) of a stream's chunks. */
    static String streamedText(List<String> events) {
        StringBuilder text = new StringBuilder();
        for (String e : events) {
            if (e.equals("[DONE]")) {
                continue;
            }
            try {
                JsonNode chunk = JSON.readTree(e);
                for (JsonNode choice : chunk.path("choices")) {
                    if (choice.has("delta")) {
                        text.append(choice.path("delta").path("content").asText(""));
                    } else {
                        text.append(choice.path("text").asText(""));
                    }
                }
            } catch (IOException ex) {
                throw new UncheckedIOException(ex);
            }
        }
        return text.toString();
    }

    /** The value of a metric line {@code name value} of /metrics. */
    static double metric(String url, String name, String... headers) {
        String text = get(url, "/metrics", headers).raw().body();
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1).strip());
            }
        }
        throw new AssertionError("no metric " + name + " in\n" + text);
    }

    /** Waits (up to {@code millis}) until a metric has the value; returns the last value seen. */
    static double awaitMetric(String url, String name, double value, long millis, String... headers)
            throws InterruptedException {
        long end = System.nanoTime() + millis * 1_000_000L;
        double v = metric(url, name, headers);
        while (v != value && System.nanoTime() < end) {
            Thread.sleep(20);
            v = metric(url, name, headers);
        }
        return v;
    }
}
