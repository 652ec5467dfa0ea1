package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.openai.models.models.Model;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * OpenAI's official Java SDK (com.openai:openai-java) against a running jllm server on stories260K: completion, chat
 * completion, streamed chat completion, models and embeddings. Greedy answers equal {@code jllm generate}'s text with
 * the same settings.
 */
class OpenAiSdkTest {

    private static OpenAIClient client;

    @BeforeAll
    static void connect() {
        client = OpenAIOkHttpClient.builder().baseUrl(TestServers.standard().url() + "/v1").apiKey("not-needed")
                .timeout(Duration.ofSeconds(60)).maxRetries(0).build();
    }

    @AfterAll
    static void disconnect() {
        client.close();
    }

    @Test
    void completionEqualsJllmGenerate() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model(TestServers.MODEL)
                .prompt("Once upon a time").maxTokens(60).temperature(0.0).build());
        String expected = TestServers.generate("-p", "Once upon a time", "--temp", "0", "-n", "60");
        assertEquals(expected, c.choices().getFirst().text());
        assertTrue(expected.startsWith(", there was a little girl named Lily."), expected);
        assertEquals("length", c.choices().getFirst().finishReason().asString());
        assertEquals(60, c.usage().orElseThrow().completionTokens());
        assertEquals(5, c.usage().orElseThrow().promptTokens(), "BOS + 4 tokens");
    }

    @Test
    void chatCompletionEqualsJllmGenerateWithTheTemplate() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model(TestServers.MODEL).addUserMessage("Tell me a story about a cat.").maxCompletionTokens(50)
                .temperature(0.0).build());
        String expected = TestServers.generate("--chat-template", "llama2", "-p", "Tell me a story about a cat.",
                "--temp", "0", "-n", "50");
        assertEquals(expected, c.choices().getFirst().message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.choices().getFirst().finishReason());
        assertEquals(50, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void streamedChatCompletionEqualsTheWholeOne() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model(TestServers.MODEL)
                .addSystemMessage("You tell short stories.").addUserMessage("Once upon a time")
                .maxCompletionTokens(40).temperature(0.0)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder streamed = new StringBuilder();
        List<String> finishReasons = new ArrayList<>();
        long[] usage = {-1};
        int[] chunks = {0};
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> {
                chunks[0]++;
                chunk.usage().ifPresent(u -> usage[0] = u.completionTokens());
                for (ChatCompletionChunk.Choice choice : chunk.choices()) {
                    choice.delta().content().ifPresent(streamed::append);
                    choice.finishReason().ifPresent(r -> finishReasons.add(r.asString()));
                }
            });
        }
        ChatCompletion whole = client.chat().completions().create(params.toBuilder().streamOptions(
                java.util.Optional.empty()).build());
        assertEquals(whole.choices().getFirst().message().content().orElseThrow(), streamed.toString());
        assertTrue(chunks[0] > 10, "the answer came in pieces: " + chunks[0] + " chunks");
        assertEquals(List.of("length"), finishReasons);
        assertEquals(40, usage[0], "include_usage: the last chunk carries the usage");
    }

    @Test
    void streamedChatCompletionEqualsJllmGenerate() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model(TestServers.MODEL)
                .addUserMessage("Where did the dog go?").maxCompletionTokens(45).temperature(0.0).build();
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(c -> c.delta().content().ifPresent(streamed::append)));
        }
        assertEquals(TestServers.generate("--chat-template", "llama2", "-p", "Where did the dog go?", "--temp", "0",
                "-n", "45"), streamed.toString());
    }

    /**
     * An answer that takes longer than a second is sent as a chunked body led by keep-alive spaces (so a client that
     * left is noticed): the SDK reads it as any other.
     */
    @Test
    void aSlowWholeAnswerLedByKeepAliveSpacesReadsAsAnyOther() {
        String url = TestServers.slow().url();
        String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 80, \"temperature\": 0}";
        String raw = TestServers.post(url, "/v1/completions", body).raw().body();
        assertTrue(raw.startsWith("  "), "keep-alive spaces lead the body: '" + raw.substring(0, 10) + "'");
        OpenAIClient slow = OpenAIOkHttpClient.builder().baseUrl(url + "/v1").apiKey("unused")
                .timeout(Duration.ofSeconds(60)).maxRetries(0).build();
        try {
            Completion c = slow.completions().create(CompletionCreateParams.builder().model(TestServers.MODEL)
                    .prompt("Once upon a time").maxTokens(80).temperature(0.0).build());
            assertEquals(TestServers.generate("-p", "Once upon a time", "--temp", "0", "-n", "80"),
                    c.choices().getFirst().text());
        } finally {
            slow.close();
        }
    }

    @Test
    void modelsListTheAlias() {
        List<Model> models = client.models().list().data();
        assertEquals(1, models.size());
        assertEquals(TestServers.MODEL, models.getFirst().id());
    }

    @Test
    void embeddingsComeBackAsUnitVectors() {
        for (EmbeddingCreateParams.EncodingFormat format : List.of(EmbeddingCreateParams.EncodingFormat.FLOAT,
                EmbeddingCreateParams.EncodingFormat.BASE64)) {
            CreateEmbeddingResponse r = client.embeddings().create(EmbeddingCreateParams.builder()
                    .model(TestServers.MODEL).input("Once upon a time").encodingFormat(format).build());
            List<Float> v = r.data().getFirst().embedding();
            assertEquals(64, v.size());
            double norm = 0;
            for (float x : v) {
                norm += x * x;
            }
            assertEquals(1.0, norm, 1e-5, format + ": unit length");
            assertEquals(5, r.usage().promptTokens());
        }
    }
}
