package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A bounded load test on loopback: 64 concurrent clients send 10 requests each (completions and streamed chat
 * completions, greedy) to a server with 4 slots and room for 40 waiting requests. Every response is complete and
 * equals the answer the same request gets alone; the only errors are the deliberate 503s of a full queue (each with
 * Retry-After), after which the client retries; afterwards no slot is busy and no request waits.
 */
class LoadTest {

    private static final int CLIENTS = 64;
    private static final int REQUESTS = 10;
    private static final String[] PROMPTS = {"Once upon a time", "The dog", "Lily saw a big", "Tom had a toy car.",
        "The girl and the boy", "A cat", "Mom said", "The sun was"};

    private static String body(int prompt, boolean chat) {
        ObjectNode b = TestServers.JSON.createObjectNode();
        if (chat) {
            b.putArray("messages").addObject().put("role", "user").put("content", PROMPTS[prompt]);
            b.put("stream", true);
        } else {
            b.put("prompt", PROMPTS[prompt]);
        }
        b.put("max_tokens", 4 + prompt / 2);
        b.put("temperature", 0.0);
        return b.toString();
    }

    private static String text(TestServers.Response r, boolean chat) {
        if (chat) {
            List<String> events = TestServers.events(r.raw().body());
            assertEquals("[DONE]", events.getLast(), "the stream is complete");
            return TestServers.streamedText(events);
        }
        return r.body().path("choices").get(0).path("text").asText();
    }

    @Test
    void sixtyFourClientsTenRequestsEach() throws Exception {
        String url = TestServers.get("load", o -> o.withParallel(4, 1024).withLimits(40, 8L << 20)).url();
        Map<String, String> expected = new ConcurrentHashMap<>();
        for (int p = 0; p < PROMPTS.length; p++) {
            for (boolean chat : new boolean[] {false, true}) {
                TestServers.Response r = TestServers.post(url, chat ? "/v1/chat/completions" : "/v1/completions",
                        body(p, chat));
                assertEquals(200, r.status(), r.raw().body());
                expected.put(p + "/" + chat, text(r, chat));
            }
        }
        AtomicInteger rejected = new AtomicInteger();
        AtomicInteger completed = new AtomicInteger();
        List<Future<?>> clients = new ArrayList<>();
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                clients.add(pool.submit(() -> {
                    for (int i = 0; i < REQUESTS; i++) {
                        int prompt = (client + i) % PROMPTS.length;
                        boolean chat = (client + i) % 3 == 0;
                        for (int attempt = 0; ; attempt++) {
                            assertTrue(attempt < 10_000, "a request was refused 10000 times");
                            TestServers.Response r = TestServers.post(url,
                                    chat ? "/v1/chat/completions" : "/v1/completions", body(prompt, chat));
                            if (r.status() == 503) {
                                assertEquals("queue_full", r.body().path("error").path("code").asText());
                                String retry = r.header("Retry-After");
                                assertTrue(retry != null && Integer.parseInt(retry) >= 1, "Retry-After: " + retry);
                                rejected.incrementAndGet();
                                Thread.sleep(ThreadLocalRandom.current().nextInt(100, 250));
                                continue;
                            }
                            assertEquals(200, r.status(), r.raw().body());
                            assertEquals(expected.get(prompt + "/" + chat), text(r, chat),
                                    "client " + client + " request " + i);
                            completed.incrementAndGet();
                            break;
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : clients) {
                f.get(240, TimeUnit.SECONDS);
            }
        }
        assertEquals(CLIENTS * REQUESTS, completed.get());
        assertEquals(0.0, TestServers.awaitMetric(url, "jllm_busy_slots", 0, 5000), "no slot leaked");
        assertEquals(0.0, TestServers.metric(url, "jllm_queue_depth"));
        assertEquals(rejected.get(), TestServers.metric(url, "jllm_requests_rejected_total"));
        System.out.printf("LoadTest: %d requests in %.1f s, %d refused with 503 and retried%n", completed.get(),
                (System.nanoTime() - start) / 1e9, rejected.get());
    }
}
