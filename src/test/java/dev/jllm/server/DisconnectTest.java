package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * A client that goes away cancels its generation: the slot is free within a couple of seconds (a stream notices at
 * its next token; a non-streaming answer, at its next keep-alive byte), long before the generation would have ended.
 */
class DisconnectTest {

    private static final int MAX_TOKENS = 200; // 4 s at the slow server's 20 ms per step

    private static Socket send(String url, String body) throws Exception {
        URI uri = URI.create(url);
        Socket socket = new Socket(uri.getHost(), uri.getPort());
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: " + uri.getHost() + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
        return socket;
    }

    private static String body(boolean stream) {
        return "{\"prompt\": \"Once upon a time\", \"max_tokens\": " + MAX_TOKENS + ", \"temperature\": 0, \"stream\": "
                + stream + "}";
    }

    @Test
    void aStreamClosedMidwayFreesItsSlot() throws Exception {
        String url = TestServers.slow().url();
        double generated0 = TestServers.metric(url, "jllm_generated_tokens_total");
        double cancelled0 = TestServers.metric(url, "jllm_requests_cancelled_total");
        try (Socket socket = send(url, body(true))) {
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                    StandardCharsets.UTF_8));
            int chunks = 0;
            while (chunks < 5) {
                if (in.readLine().startsWith("data: ")) {
                    chunks++;
                }
            }
            assertEquals(1.0, TestServers.metric(url, "jllm_busy_slots"));
        }
        long closed = System.nanoTime();
        assertEquals(0.0, TestServers.awaitMetric(url, "jllm_busy_slots", 0, 3000), "the slot is free again");
        double seconds = (System.nanoTime() - closed) / 1e9;
        assertTrue(seconds < 2, "freed " + seconds + " s after the client left");
        assertEquals(cancelled0 + 1, TestServers.metric(url, "jllm_requests_cancelled_total"));
        assertTrue(TestServers.metric(url, "jllm_generated_tokens_total") - generated0 < MAX_TOKENS / 2.0);
    }

    @Test
    void aClientThatLeavesBeforeAWholeAnswerFreesItsSlot() throws Exception {
        String url = TestServers.slow().url();
        double generated0 = TestServers.metric(url, "jllm_generated_tokens_total");
        try (Socket socket = send(url, body(false))) {
            Thread.sleep(300);
            assertEquals(1.0, TestServers.metric(url, "jllm_busy_slots"));
        }
        long closed = System.nanoTime();
        assertEquals(0.0, TestServers.awaitMetric(url, "jllm_busy_slots", 0, 4000), "the slot is free again");
        double seconds = (System.nanoTime() - closed) / 1e9;
        assertTrue(seconds < 3, "freed " + seconds + " s after the client left");
        assertTrue(TestServers.metric(url, "jllm_generated_tokens_total") - generated0 < MAX_TOKENS * 0.9,
                "cancelled before the end");
    }
}
