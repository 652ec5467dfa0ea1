package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.cli.Main;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jllm serve} as a process: it prints its address when ready, and on SIGTERM stops accepting, lets a running
 * stream finish and exits with status 0. Bad options fail in one line with exit code 2.
 */
class ServeCommandTest {

    private static Process start(Path stderr, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "serve"));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectError(stderr.toFile()).start();
    }

    @Test
    void sigtermLetsARunningStreamFinishThenExitsCleanly(@TempDir Path dir) throws Exception {
        Path stderr = dir.resolve("stderr.txt");
        Process p = start(stderr, "-m", SharedData.model(TestServers.MODEL).toString(), "--port", "0", "--chat-template",
                "llama2", "-np", "2", "-c", "512", "--step-delay", "20", "--shutdown-grace", "20");
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String ready = out.readLine();
            assertTrue(ready != null && ready.startsWith("jllm serve: ready on http://127.0.0.1:"), ready);
            assertTrue(ready.contains("2 slots x 256 tokens") && ready.contains("chat template llama2"), ready);
            Matcher m = Pattern.compile("(http://[0-9.:]+)").matcher(ready);
            assertTrue(m.find());
            String url = m.group(1);

            HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\": [{\"role\": \"user\", \"content\":"
                            + " \"Hi\"}], \"max_tokens\": 60, \"temperature\": 0, \"stream\": true}")).build();
            HttpResponse<java.io.InputStream> response = TestServers.HTTP.send(request,
                    HttpResponse.BodyHandlers.ofInputStream());
            List<String> events = new ArrayList<>();
            try (BufferedReader stream = new BufferedReader(new InputStreamReader(response.body(),
                    StandardCharsets.UTF_8))) {
                for (String line = stream.readLine(); line != null; line = stream.readLine()) {
                    if (line.startsWith("data: ")) {
                        events.add(line.substring(6));
                        if (events.size() == 3) {
                            p.destroy(); // SIGTERM
                        }
                    }
                }
            }
            assertEquals("[DONE]", events.getLast(), "the running stream was finished, not cut");
            assertTrue(events.get(events.size() - 2).contains("\"finish_reason\":\"length\""),
                    events.get(events.size() - 2));
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the server exits");
            assertEquals(0, p.exitValue());
            String err = Files.readString(stderr, StandardCharsets.UTF_8);
            assertTrue(err.contains("jllm serve: shutting down") && err.contains("jllm serve: stopped"), err);
            assertFalse(err.contains("Exception"), err);
        } finally {
            p.destroyForcibly();
        }
    }

    private record Result(int code, String err) {
    }

    private static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of("serve", "-m", SharedData.model(TestServers.MODEL).toString()));
        all.addAll(List.of(args));
        int code = Main.run(all.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void badOptionsFailInOneLine(@TempDir Path dir) throws Exception {
        Result zero = run("--parallel", "0", "--port", "0");
        assertEquals(2, zero.code());
        assertEquals("jllm: --parallel must be at least 1, got 0", zero.err().strip());
        Result tiny = run("-np", "8", "-c", "32", "--port", "0");
        assertEquals(2, tiny.code());
        assertTrue(tiny.err().contains("4 positions per slot"), tiny.err());
        Result noFile = run("--api-key-file", dir.resolve("keys.txt").toString());
        assertEquals(2, noFile.code());
        assertTrue(noFile.err().strip().endsWith("keys.txt: no such file (--api-key-file)"), noFile.err());
        Path empty = Files.writeString(dir.resolve("empty.txt"), "# no keys\n\n");
        Result noKey = run("--api-key-file", empty.toString());
        assertEquals(2, noKey.code());
        assertEquals(1, noKey.err().strip().lines().count(), noKey.err());
        Result port = run("--port", "70000");
        assertEquals(2, port.code());
        assertTrue(port.err().contains("--port must be between 0 and 65535"), port.err());
    }
}
