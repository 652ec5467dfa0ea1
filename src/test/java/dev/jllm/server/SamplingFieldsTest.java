package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

/**
 * The request fields that map onto the sampling chain directly: OpenAI's {@code logit_bias} and llama-server's
 * {@code samplers} give the text {@code jllm generate} gives with {@code --logit-bias} and {@code --samplers} (the same
 * chain, the same seed); bad values get a 400 naming the field.
 */
class SamplingFieldsTest {

    private static final String PROMPT = "Once upon a time";

    private static ObjectNode completion(int maxTokens) {
        ObjectNode b = TestServers.JSON.createObjectNode();
        b.put("prompt", PROMPT);
        b.put("max_tokens", maxTokens);
        return b;
    }

    private static String text(ObjectNode body) {
        TestServers.Response r = TestServers.post(TestServers.standard().url(), "/v1/completions", body.toString());
        assertEquals(200, r.status(), r.raw().body());
        return r.body().path("choices").get(0).path("text").asText();
    }

    private static JsonNode error(ObjectNode body) {
        TestServers.Response r = TestServers.post(TestServers.standard().url(), "/v1/completions", body.toString());
        assertEquals(400, r.status(), r.raw().body());
        return r.body().path("error");
    }

    @Test
    void logitBiasIsAddedToTheLogits() {
        ObjectNode body = completion(30);
        body.put("temperature", 0.0);
        String plain = text(body);
        body.putObject("logit_bias").put("432", -100).put("286", 2.5);
        String biased = text(body);
        assertNotEquals(plain, biased);
        assertEquals(TestServers.generate("-p", PROMPT, "--temp", "0", "-n", "30", "--logit-bias", "432-100",
                "--logit-bias", "286+2.5"), biased);
    }

    @Test
    void samplersSetTheChainsOrder() {
        ObjectNode body = completion(40);
        body.put("temperature", 1.5);
        body.put("top_p", 0.7);
        body.put("seed", 5);
        String defaultOrder = text(body);
        assertEquals(TestServers.generate("-p", PROMPT, "--temp", "1.5", "--top-p", "0.7", "-s", "5", "-n", "40"),
                defaultOrder);
        body.putArray("samplers").add("temperature").add("top_k").add("top_p").add("min_p");
        String other = text(body);
        assertNotEquals(defaultOrder, other);
        String expected = TestServers.generate("-p", PROMPT, "--temp", "1.5", "--top-p", "0.7", "-s", "5", "-n", "40",
                "--samplers", "temperature;top_k;top_p;min_p");
        assertEquals(expected, other);
        body.put("samplers", "tkpm");
        assertEquals(expected, text(body), "as letters");
    }

    @Test
    void badValuesNameTheField() {
        ObjectNode body = completion(4);
        body.putObject("logit_bias").put("432", -101);
        JsonNode e = error(body);
        assertEquals("logit_bias", e.path("param").asText());
        assertTrue(e.path("message").asText().contains("from -100 to 100"), e.toString());
        body.putObject("logit_bias").put("comma", 1);
        assertEquals("logit_bias", error(body).path("param").asText());
        body.putObject("logit_bias").put("512", 1);
        assertTrue(error(body).path("message").asText().contains("outside the vocabulary (0..511)"));
        body.remove("logit_bias");
        body.putArray("samplers").add("top_k").add("bogus");
        e = error(body);
        assertEquals("samplers", e.path("param").asText());
        assertTrue(e.path("message").asText().contains("'bogus'"), e.toString());
        body.put("samplers", 3);
        assertEquals("samplers", error(body).path("param").asText());
    }
}
