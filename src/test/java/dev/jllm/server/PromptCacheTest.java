package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

/**
 * Prompt caching: a second chat turn that resends the first reuses the slot's cached positions (reported as
 * {@code usage.prompt_tokens_details.cached_tokens}) and gives the same text as the same request on a cold server.
 */
class PromptCacheTest {

    private static ObjectNode chat(String... turns) {
        ObjectNode b = TestServers.JSON.createObjectNode();
        ArrayNode messages = b.putArray("messages");
        for (int i = 0; i < turns.length; i++) {
            messages.addObject().put("role", i % 2 == 0 ? "user" : "assistant").put("content", turns[i]);
        }
        b.put("max_tokens", 30);
        b.put("temperature", 0.0);
        return b;
    }

    @Test
    void aSecondTurnReusesTheFirstAndAnswersAsAColdRun() {
        String warm = TestServers.get("cache-one-slot", o -> o.withParallel(1, 512)).url();
        TestServers.Response first = TestServers.post(warm, "/v1/chat/completions",
                chat("Tell me about a dog.").toString());
        assertEquals(200, first.status(), first.raw().body());
        String answer = first.body().path("choices").get(0).path("message").path("content").asText();
        int firstPrompt = first.body().path("usage").path("prompt_tokens").asInt();

        String secondBody = chat("Tell me about a dog.", answer, "What did the dog eat?").toString();
        TestServers.Response second = TestServers.post(warm, "/v1/chat/completions", secondBody);
        assertEquals(200, second.status(), second.raw().body());
        JsonNode usage = second.body().path("usage");
        int cached = usage.path("prompt_tokens_details").path("cached_tokens").asInt();
        assertTrue(cached >= firstPrompt, "the whole first prompt (" + firstPrompt + " tokens) is reused, and the"
                + " answer's tokens as far as they tokenize the same: " + usage);
        assertTrue(cached < usage.path("prompt_tokens").asInt());

        String cold = TestServers.get("cache-cold", o -> o.withParallel(1, 512)).url();
        TestServers.Response coldRun = TestServers.post(cold, "/v1/chat/completions", secondBody);
        assertEquals(0, coldRun.body().path("usage").path("prompt_tokens_details").path("cached_tokens").asInt(),
                "a fresh server has nothing cached");
        assertEquals(coldRun.body().path("choices").get(0).path("message").path("content").asText(),
                second.body().path("choices").get(0).path("message").path("content").asText());
    }

    @Test
    void theSamePromptAgainRunsOnlyItsLastToken() {
        String url = TestServers.get("cache-one-slot", o -> o.withParallel(1, 512)).url();
        String body = "{\"prompt\": \"Lily and Ben went to the park to play with a red ball.\", \"max_tokens\": 10,"
                + " \"temperature\": 0}";
        TestServers.Response a = TestServers.post(url, "/v1/completions", body);
        double prompt0 = TestServers.metric(url, "jllm_prompt_tokens_total");
        TestServers.Response b = TestServers.post(url, "/v1/completions", body);
        int promptTokens = b.body().path("usage").path("prompt_tokens").asInt();
        assertEquals(promptTokens - 1, b.body().path("usage").path("prompt_tokens_details").path("cached_tokens")
                .asInt(), "the last prompt token runs again for its logits");
        assertEquals(1.0, TestServers.metric(url, "jllm_prompt_tokens_total") - prompt0);
        assertEquals(a.body().path("choices").get(0).path("text"), b.body().path("choices").get(0).path("text"));
    }
}
