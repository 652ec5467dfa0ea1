package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.SharedData;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.engine.Model;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every bad request gets its status and OpenAI's error body {@code {"error": {"message", "type", "param", "code"}}}
 * naming the field at fault: 401 without the API key, 413 beyond the body limit, 400 for invalid JSON, missing or
 * mistyped fields, unknown roles, out-of-range values, prompts longer than the context and templates that refuse the
 * messages, 404/405 for unknown routes and methods, 503 with Retry-After when the queue is full or the model is still
 * loading.
 */
class BadRequestTest {

    private static final String KEY = "sk-test-0123456789";
    private static final String[] AUTH = {"Authorization", "Bearer " + KEY};

    /** One slot, no waiting room, a key, a 4 KiB body limit, 20 ms per step. */
    private static String url() {
        return TestServers.get("strict", o -> o.withParallel(1, 256).withApiKeys(List.of(KEY, "second-key"))
                .withLimits(0, 4096).withStepDelay(20)).url();
    }

    private static JsonNode error(TestServers.Response r, int status) {
        assertEquals(status, r.status(), r.raw().body());
        assertTrue(r.header("Content-Type").startsWith("application/json"));
        JsonNode error = r.body().path("error");
        for (String field : List.of("message", "type", "param", "code")) {
            assertTrue(error.has(field), "the error body has \"" + field + "\": " + r.body());
        }
        assertTrue(error.path("message").asText().length() > 5, r.body().toString());
        return error;
    }

    private static JsonNode badChat(String body) {
        return error(TestServers.post(url(), "/v1/chat/completions", body, AUTH), 400);
    }

    private static JsonNode badCompletion(String body) {
        return error(TestServers.post(url(), "/v1/completions", body, AUTH), 400);
    }

    private static void assertParam(String param, JsonNode error) {
        assertEquals(param, error.path("param").asText(null), error.toString());
        assertEquals("invalid_request_error", error.path("type").asText());
    }

    @Test
    void withoutTheKeyEveryRouteButHealthAndThePageIs401() {
        for (String path : List.of("/v1/models", "/metrics", "/v1/nothing")) {
            JsonNode e = error(TestServers.get(url(), path), 401);
            assertEquals("authentication_error", e.path("type").asText());
            assertEquals("invalid_api_key", e.path("code").asText());
        }
        JsonNode wrong = error(TestServers.post(url(), "/v1/chat/completions", "{}", "Authorization",
                "Bearer sk-wrong"), 401);
        assertEquals("invalid API key", wrong.path("message").asText());
        TestServers.Response r = TestServers.get(url(), "/v1/models");
        assertEquals("Bearer", r.header("WWW-Authenticate"));
        assertEquals(200, TestServers.get(url(), "/v1/models", AUTH).status());
        assertEquals(200, TestServers.get(url(), "/v1/models", "Authorization", "Bearer second-key").status());
        assertEquals(200, TestServers.get(url(), "/health").status(), "health needs no key");
        assertEquals(200, TestServers.get(url(), "/").status(), "nor the page's static files");
    }

    @Test
    void aBodyOverTheLimitIs413() {
        String big = "{\"prompt\": \"" + "a".repeat(5000) + "\"}";
        JsonNode e = error(TestServers.post(url(), "/v1/completions", big, AUTH), 413);
        assertEquals("request_too_large", e.path("code").asText());
        assertTrue(e.path("message").asText().contains("4096"), e.toString());
    }

    @Test
    void malformedBodiesAre400() {
        JsonNode e = badChat("{\"messages\": [");
        assertEquals("invalid_json", e.path("code").asText());
        assertTrue(e.path("param").isNull());
        assertEquals("invalid_json", badChat("[1, 2]").path("code").asText());
        assertEquals("invalid_json", badChat("").path("code").asText(), "an empty body");
    }

    @Test
    void missingAndMistypedFieldsAreNamed() {
        assertParam("messages", badChat("{}"));
        assertParam("messages", badChat("{\"messages\": \"hello\"}"));
        assertParam("messages", badChat("{\"messages\": []}"));
        assertParam("messages[0]", badChat("{\"messages\": [\"hello\"]}"));
        assertParam("messages[0].role", badChat("{\"messages\": [{\"content\": \"hi\"}]}"));
        assertParam("messages[0].content", badChat("{\"messages\": [{\"role\": \"user\"}]}"));
        assertParam("messages[1].content[0]", badChat("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"},"
                + " {\"role\": \"assistant\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}"));
        assertParam("prompt", badCompletion("{}"));
        assertParam("prompt", badCompletion("{\"prompt\": 42}"));
        assertParam("prompt", badCompletion("{\"prompt\": [\"one\", \"two\"]}"));
        assertParam("prompt", badCompletion("{\"prompt\": [1, 99999]}"));
        assertParam("temperature", badCompletion("{\"prompt\": \"a\", \"temperature\": \"hot\"}"));
        assertParam("stream", badCompletion("{\"prompt\": \"a\", \"stream\": \"yes\"}"));
        assertParam("seed", badCompletion("{\"prompt\": \"a\", \"seed\": 1.5}"));
        assertParam("stop", badCompletion("{\"prompt\": \"a\", \"stop\": 5}"));
        assertParam("stop", badCompletion("{\"prompt\": \"a\", \"stop\": [\"\"]}"));
    }

    @Test
    void anUnknownRoleIsNamed() {
        JsonNode e = badChat("{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}");
        assertParam("messages[0].role", e);
        assertTrue(e.path("message").asText().contains("wizard"), e.toString());
        assertParam("messages[1].role", badChat("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"},"
                + " {\"role\": \"tool\", \"content\": \"42\"}]}"));
    }

    @Test
    void outOfRangeValuesAreNamed() {
        String user = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
        for (String[] c : new String[][] {
            {"temperature", "2.5"}, {"temperature", "-0.1"}, {"top_p", "1.5"}, {"top_k", "-1"}, {"min_p", "2"},
            {"presence_penalty", "3"}, {"frequency_penalty", "-2.5"}, {"max_tokens", "0"},
            {"max_completion_tokens", "-5"}, {"n", "2"}, {"top_logprobs", "21"}, {"repeat_penalty", "0"}}) {
            JsonNode e = badChat("{" + user + ", \"" + c[0] + "\": " + c[1] + "}");
            assertParam(c[0], e);
            assertTrue(e.path("message").asText().contains(c[0]), e.toString());
        }
        assertParam("logprobs", badCompletion("{\"prompt\": \"a\", \"logprobs\": 50}"));
        assertParam("top_logprobs", badChat("{" + user + ", \"top_logprobs\": 3}"));
        assertParam("stream_options", badChat("{" + user + ", \"stream_options\": {\"include_usage\": true}}"));
        assertParam("tools", badChat("{" + user + ", \"tools\": [{\"type\": \"function\"}]}"));
        assertParam("response_format", badChat("{" + user + ", \"response_format\": {\"type\": \"json_object\"}}"));
        assertParam("echo", badCompletion("{\"prompt\": \"a\", \"echo\": true}"));
    }

    @Test
    void aPromptLongerThanTheContextIs400() {
        String words = "the cat sat on the mat and ".repeat(60);
        JsonNode chat = badChat("{\"messages\": [{\"role\": \"user\", \"content\": \"" + words + "\"}]}");
        assertParam("messages", chat);
        assertEquals("context_length_exceeded", chat.path("code").asText());
        JsonNode text = badCompletion("{\"prompt\": \"" + words + "\"}");
        assertParam("prompt", text);
        assertEquals("context_length_exceeded", text.path("code").asText());
        assertTrue(text.path("message").asText().contains("256"), text.toString());
    }

    @Test
    void aTemplateThatRefusesTheMessagesGives400WithItsMessage() {
        JsonNode e = badChat("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"},"
                + " {\"role\": \"user\", \"content\": \"b\"}]}");
        assertParam("messages", e);
        assertEquals("chat_template_error", e.path("code").asText());
        assertTrue(e.path("message").asText().contains(
                "Conversation roles must alternate user/assistant/user/assistant/..."), e.toString());
    }

    @Test
    void otherEndpointsCheckTheirFieldsToo() {
        assertParam("input", error(TestServers.post(url(), "/v1/embeddings", "{}", AUTH), 400));
        assertParam("encoding_format", error(TestServers.post(url(), "/v1/embeddings",
                "{\"input\": \"a\", \"encoding_format\": \"int8\"}", AUTH), 400));
        assertParam("content", error(TestServers.post(url(), "/tokenize", "{\"content\": 5}", AUTH), 400));
        assertParam("tokens", error(TestServers.post(url(), "/detokenize", "{\"tokens\": [1, -3]}", AUTH), 400));
    }

    @Test
    void unknownRoutesAre404AndWrongMethods405() {
        assertEquals("not_found", error(TestServers.get(url(), "/v1/engines", AUTH), 404).path("code").asText());
        TestServers.Response r = TestServers.get(url(), "/v1/chat/completions", AUTH);
        assertEquals("method_not_allowed", error(r, 405).path("code").asText());
        assertEquals("POST", r.header("Allow"));
    }

    @Test
    void aFullQueueGets503WithRetryAfter() throws Exception {
        HttpRequest busy = HttpRequest.newBuilder(URI.create(url() + "/v1/completions")).headers(AUTH)
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once upon a time\", \"max_tokens\": 100,"
                        + " \"temperature\": 0, \"stream\": true}")).build();
        HttpResponse<java.io.InputStream> running = TestServers.HTTP.send(busy,
                HttpResponse.BodyHandlers.ofInputStream());
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(running.body(),
                StandardCharsets.UTF_8))) {
            int chunks = 0;
            while (chunks < 3) {
                if (reader.readLine().startsWith("data: ")) {
                    chunks++;
                }
            }
            // The one slot is generating and --max-queue is 0: the next request is refused.
            TestServers.Response r = TestServers.post(url(), "/v1/completions", "{\"prompt\": \"Hi\"}", AUTH);
            JsonNode e = error(r, 503);
            assertEquals("queue_full", e.path("code").asText());
            assertNotNull(r.header("Retry-After"));
            assertTrue(Integer.parseInt(r.header("Retry-After")) >= 1);
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.equals("data: [DONE]")) {
                    break;
                }
            }
        }
        assertEquals(0.0, TestServers.awaitMetric(url(), "jllm_busy_slots", 0, 5000, AUTH));
        assertEquals(200, TestServers.post(url(), "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2}",
                AUTH).status(), "a free slot takes requests again");
    }

    @Test
    void whileTheModelLoadsHealthAndRequestsAre503() throws Exception {
        ServerOptions options = ServerOptions.defaults(256, "loading").withPort(0);
        try (JllmServer server = JllmServer.bind(options, new PrintStream(new ByteArrayOutputStream(), true,
                StandardCharsets.UTF_8))) {
            TestServers.Response health = TestServers.get(server.url(), "/health");
            assertEquals("loading", error(health, 503).path("code").asText());
            assertNotNull(health.header("Retry-After"));
            assertEquals("loading", error(TestServers.post(server.url(), "/v1/completions", "{\"prompt\": \"a\"}"),
                    503).path("code").asText());
            try (Model model = Model.load(SharedData.model(TestServers.MODEL), null)) {
                server.serve(model, ChatTemplate.builtin("llama2"));
                assertEquals(200, TestServers.get(server.url(), "/health").status());
                assertEquals("ok", TestServers.get(server.url(), "/health").body().path("status").asText());
                server.shutdown();
            }
        }
    }
}
