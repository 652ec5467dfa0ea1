package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.SharedData;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.sampling.TokenLogprobs;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What a request can ask for beyond the prompt: stop strings (never shown, also when they span tokens and streams),
 * log-probabilities (the model's own, from its raw logits), seeds, penalties; and /tokenize, /detokenize.
 */
class GenerationOptionsTest {

    private static final String PROMPT = "Once upon a time";

    private static ObjectNode completion(int maxTokens) {
        ObjectNode b = TestServers.JSON.createObjectNode();
        b.put("prompt", PROMPT);
        b.put("max_tokens", maxTokens);
        b.put("temperature", 0.0);
        return b;
    }

    private static String text(ObjectNode body) {
        TestServers.Response r = TestServers.post(TestServers.standard().url(), "/v1/completions", body.toString());
        assertEquals(200, r.status(), r.raw().body());
        return r.body().path("choices").get(0).path("text").asText();
    }

    @Test
    void aStopStringSpanningTokensIsNeverShownNorStreamed() {
        String url = TestServers.standard().url();
        String full = text(completion(40));
        assertTrue(full.startsWith(", there was a little girl named Lily."), full);
        // "tle gi" spans the tokens " little" and " girl"; "Lily" is one token; ". She" starts after a token.
        for (String stop : List.of("tle gi", "Lily", ". She")) {
            String expected = full.substring(0, full.indexOf(stop));
            ObjectNode body = completion(40);
            body.putArray("stop").add(stop).add("never appears");
            TestServers.Response whole = TestServers.post(url, "/v1/completions", body.toString());
            JsonNode choice = whole.body().path("choices").get(0);
            assertEquals(expected, choice.path("text").asText(), "stop " + stop);
            assertEquals("stop", choice.path("finish_reason").asText());

            body.put("stream", true);
            List<String> events = TestServers.events(TestServers.post(url, "/v1/completions", body.toString())
                    .raw().body());
            assertEquals(expected, TestServers.streamedText(events), "streamed, stop " + stop);
            for (String e : events) {
                assertFalse(e.contains(stop), "no chunk shows the stop string: " + e);
            }
        }
    }

    @Test
    void chatStreamsAndWholeAnswersAgreeWithStops() {
        String url = TestServers.standard().url();
        ObjectNode body = TestServers.JSON.createObjectNode();
        body.putArray("messages").addObject().put("role", "user").put("content", "Once upon a time");
        body.put("max_tokens", 60);
        body.put("temperature", 0.0);
        body.put("stop", "the");
        String whole = TestServers.post(url, "/v1/chat/completions", body.toString()).body().path("choices").get(0)
                .path("message").path("content").asText();
        body.put("stream", true);
        String streamed = TestServers.streamedText(TestServers.events(TestServers.post(url, "/v1/chat/completions",
                body.toString()).raw().body()));
        assertEquals(whole, streamed);
        assertFalse(whole.contains("the"), whole);
    }

    /** Logprobs are the log-softmax of the model's logits: checked against the engine run directly. */
    @Test
    void logprobsAreTheModelsOwn() {
        String url = TestServers.standard().url();
        ObjectNode body = TestServers.JSON.createObjectNode();
        body.putArray("messages").addObject().put("role", "user").put("content", "Hello");
        body.put("max_tokens", 12);
        body.put("temperature", 0.0);
        body.put("logprobs", true);
        body.put("top_logprobs", 3);
        JsonNode choice = TestServers.post(url, "/v1/chat/completions", body.toString()).body().path("choices")
                .get(0);
        JsonNode content = choice.path("logprobs").path("content");
        assertEquals(12, content.size());
        StringBuilder tokens = new StringBuilder();
        for (JsonNode entry : content) {
            tokens.append(entry.path("token").asText());
            assertEquals(3, entry.path("top_logprobs").size());
            JsonNode best = entry.path("top_logprobs").get(0);
            assertEquals(best.path("token").asText(), entry.path("token").asText(), "greedy takes the most likely");
            assertEquals(best.path("logprob").asDouble(), entry.path("logprob").asDouble());
            assertTrue(entry.path("top_logprobs").get(1).path("logprob").asDouble() <= best.path("logprob").asDouble());
            assertEquals(entry.path("token").asText().getBytes(java.nio.charset.StandardCharsets.UTF_8).length,
                    entry.path("bytes").size());
        }
        assertEquals(choice.path("message").path("content").asText(), tokens.toString());

        // The first token's log-probabilities from the engine itself.
        JsonNode tokenized = TestServers.post(url, "/tokenize", "{\"content\": \"Once upon a time\","
                + " \"add_special\": true}").body();
        int[] ids = new int[tokenized.path("tokens").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenized.path("tokens").get(i).asInt();
        }
        ObjectNode text = completion(1);
        text.put("logprobs", 2);
        JsonNode lp = TestServers.post(url, "/v1/completions", text.toString()).body().path("choices").get(0)
                .path("logprobs");
        try (Model model = Model.load(SharedData.model(TestServers.MODEL), null)) {
            Session session = model.newSession(SessionOptions.defaults(256));
            float[] logits = session.append(ids);
            int vocab = model.config().vocabSize();
            int best = dev.jllm.sampling.Sampler.argmax(logits, 0, vocab);
            TokenLogprobs expected = TokenLogprobs.of(logits, 0, vocab, best, 2);
            assertEquals(expected.logprob(), (float) lp.path("token_logprobs").get(0).asDouble());
            assertEquals(2, lp.path("top_logprobs").get(0).size());
            assertEquals(0, lp.path("text_offset").get(0).asInt());
        }
    }

    @Test
    void aSeedGivesTheSameSampledTextAndAnotherSeedAnother() {
        ObjectNode body = completion(40);
        body.put("temperature", 1.0);
        body.put("seed", 42);
        String a = text(body);
        String b = text(body);
        body.put("seed", 43);
        String c = text(body);
        assertEquals(a, b);
        assertNotEquals(a, c);
    }

    @Test
    void penaltiesChangeTheAnswer() {
        ObjectNode body = completion(60);
        String plain = text(body);
        body.put("frequency_penalty", 1.5);
        String penalized = text(body);
        assertNotEquals(plain, penalized);
        body.put("frequency_penalty", 0.0);
        body.put("presence_penalty", 1.5);
        assertNotEquals(plain, text(body));
    }

    /** The token ids llama.cpp's own server gives for the same text and model (/tokenize on stories260K.gguf). */
    @Test
    void tokenizeAndDetokenizeAsLlamaCpp() {
        String url = TestServers.standard().url();
        JsonNode t = TestServers.post(url, "/tokenize", "{\"content\": \"Once upon a time\"}").body();
        assertEquals("[403,407,261,378]", t.path("tokens").toString());
        JsonNode withBos = TestServers.post(url, "/tokenize", "{\"content\": \"Once upon a time\", \"add_special\":"
                + " true, \"with_pieces\": true}").body();
        assertEquals(1, withBos.path("tokens").get(0).path("id").asInt());
        assertEquals(" upon", withBos.path("tokens").get(2).path("piece").asText());
        JsonNode d = TestServers.post(url, "/detokenize", "{\"tokens\": [403, 407, 261, 378]}").body();
        assertEquals("Once upon a time", d.path("content").asText());
        assertArrayEquals(new int[] {403, 407, 261, 378}, TestServers.standard().model().tokenizer()
                .encode("Once upon a time", false, false));
    }
}
