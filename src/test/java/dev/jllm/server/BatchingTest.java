package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Continuous batching: with --parallel 4, eight concurrent requests (four run while four wait) each get exactly the
 * tokens the same request gets alone, down to the bits of every reported log-probability; and a request that arrives
 * while another is generating starts, and finishes, before that one does.
 */
class BatchingTest {

    private static final String[] PROMPTS = {
        "Once upon a time", "The dog ran", "Lily wanted to", "One day, Tom and his mom went to the store to buy",
        "The sun", "A little bird sat on a tree and sang a song. The bird", "Ben had a red ball.", "Sue and Max"};

    private static String body(int i, boolean sampled) {
        ObjectNode b = TestServers.JSON.createObjectNode();
        b.put("prompt", PROMPTS[i]);
        b.put("max_tokens", 20 + 2 * i);
        b.put("logprobs", 2);
        if (sampled) {
            b.put("temperature", 1.0);
            b.put("seed", 1000 + i);
        } else {
            b.put("temperature", 0.0);
        }
        return b.toString();
    }

    @Test
    void eightConcurrentRequestsGetTheTokensTheyGetAlone() throws Exception {
        String url = TestServers.standard().url();
        for (boolean sampled : new boolean[] {false, true}) {
            List<JsonNode> alone = new ArrayList<>();
            for (int i = 0; i < PROMPTS.length; i++) {
                TestServers.Response r = TestServers.post(url, "/v1/completions", body(i, sampled));
                assertEquals(200, r.status(), r.raw().body());
                alone.add(r.body().path("choices").get(0));
            }
            double steps0 = TestServers.metric(url, "jllm_steps_total");
            double tokens0 = TestServers.metric(url, "jllm_step_tokens_total");
            CountDownLatch go = new CountDownLatch(1);
            List<Future<TestServers.Response>> futures = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < PROMPTS.length; i++) {
                    int n = i;
                    futures.add(pool.submit(() -> {
                        go.await();
                        return TestServers.post(url, "/v1/completions", body(n, sampled));
                    }));
                }
                go.countDown();
                for (int i = 0; i < PROMPTS.length; i++) {
                    TestServers.Response r = futures.get(i).get();
                    assertEquals(200, r.status(), r.raw().body());
                    JsonNode choice = r.body().path("choices").get(0);
                    assertEquals(alone.get(i).path("text").asText(), choice.path("text").asText(),
                            "request " + i + (sampled ? " (sampled)" : "") + " in a batch");
                    assertEquals(alone.get(i).path("logprobs"), choice.path("logprobs"),
                            "request " + i + ": the log-probabilities of every token, bit for bit");
                    assertEquals(20 + 2 * i, r.body().path("usage").path("completion_tokens").asInt());
                }
            }
            double steps = TestServers.metric(url, "jllm_steps_total") - steps0;
            double tokens = TestServers.metric(url, "jllm_step_tokens_total") - tokens0;
            assertTrue(tokens / steps > 2.0, "the requests shared forward passes: " + tokens + " tokens in " + steps
                    + " steps");
        }
    }

    @Test
    void aRequestArrivingDuringAnotherStartsAndEndsBeforeItFinishes() throws Exception {
        String url = TestServers.slow().url();
        ObjectNode longOne = TestServers.JSON.createObjectNode();
        longOne.put("prompt", "Once upon a time");
        longOne.put("max_tokens", 120);
        longOne.put("temperature", 0.0);
        longOne.put("stream", true);
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(longOne.toString())).build();
        HttpResponse<java.io.InputStream> response = TestServers.HTTP.send(request,
                HttpResponse.BodyHandlers.ofInputStream());
        List<Long> chunkTimes = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(),
                StandardCharsets.UTF_8))) {
            Thread shortRequest = null;
            long[] shortFinished = {-1};
            String[] shortText = {null};
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (!line.startsWith("data: ")) {
                    continue;
                }
                if (line.equals("data: [DONE]")) {
                    break;
                }
                chunkTimes.add(System.nanoTime());
                if (chunkTimes.size() == 5) {
                    shortRequest = Thread.ofVirtual().start(() -> {
                        TestServers.Response r = TestServers.post(url, "/v1/completions",
                                "{\"prompt\": \"The cat\", \"max_tokens\": 8, \"temperature\": 0}");
                        shortText[0] = r.body().path("choices").get(0).path("text").asText();
                        shortFinished[0] = System.nanoTime();
                    });
                }
            }
            long longDone = System.nanoTime();
            shortRequest.join();
            long shortDone = shortFinished[0];
            assertTrue(shortDone > 0 && shortDone < longDone,
                    "the short request finished before the long one it arrived during");
            long during = chunkTimes.stream().filter(t -> t > shortDone).count();
            assertTrue(during > 20, "the long stream went on after the short request: " + during + " chunks");
            assertEquals(TestServers.generate("-p", "The cat", "--temp", "0", "-n", "8"), shortText[0]);
        }
        assertTrue(chunkTimes.size() > 100, "about one chunk per token: " + chunkTimes.size());
    }

    /**
     * A long prompt is read in chunks (here 8 tokens per step, --prefill-chunk 8) between the steps of a running
     * stream, which gets a token at each of them: the 150-token prompt takes at least 19 steps, during which the
     * stream keeps flowing.
     */
    @Test
    void aLongPromptIsReadInChunksWhileAStreamFlows() throws Exception {
        String url = TestServers.get("chunked", o -> o.withParallel(2, 512).withStepDelay(20).withBatching(512, 8))
                .url();
        String longPrompt = "Lily and Ben went to the park to play with a red ball. ".repeat(10);
        int promptTokens = TestServers.post(url, "/tokenize", TestServers.JSON.createObjectNode()
                .put("content", longPrompt).toString()).body().path("tokens").size();
        assertTrue(promptTokens >= 150 && promptTokens < 250, "prompt of " + promptTokens + " tokens");
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once upon a time\", \"max_tokens\": 200,"
                        + " \"temperature\": 0, \"stream\": true}")).build();
        HttpResponse<java.io.InputStream> response = TestServers.HTTP.send(request,
                HttpResponse.BodyHandlers.ofInputStream());
        List<Long> chunkTimes = new ArrayList<>();
        long[] window = {-1, -1};
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(),
                StandardCharsets.UTF_8))) {
            Thread other = null;
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                    continue;
                }
                chunkTimes.add(System.nanoTime());
                if (chunkTimes.size() == 3) {
                    other = Thread.ofVirtual().start(() -> {
                        window[0] = System.nanoTime();
                        TestServers.Response r = TestServers.post(url, "/v1/completions", TestServers.JSON
                                .createObjectNode().put("prompt", longPrompt).put("max_tokens", 1).toString());
                        assertEquals(200, r.status());
                        window[1] = System.nanoTime();
                    });
                }
            }
            other.join();
        }
        long during = chunkTimes.stream().filter(t -> t > window[0] && t < window[1]).count();
        assertTrue(during >= promptTokens / 8 - 4, "the stream got a token at (nearly) every step of the prompt's "
                + (promptTokens + 7) / 8 + " chunks: " + during);
    }
}
