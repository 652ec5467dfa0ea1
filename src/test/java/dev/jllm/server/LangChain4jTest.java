package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiEmbeddingModel;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * LangChain4j's OpenAI models (dev.langchain4j:langchain4j-open-ai) against a running jllm server: OpenAiChatModel,
 * OpenAiStreamingChatModel, OpenAiLanguageModel (completions) and OpenAiEmbeddingModel. Greedy answers equal
 * {@code jllm generate}'s with the same settings.
 */
class LangChain4jTest {

    private static String baseUrl() {
        return TestServers.standard().url() + "/v1";
    }

    @Test
    void chatModelAnswersAsJllmGenerate() {
        OpenAiChatModel model = OpenAiChatModel.builder().baseUrl(baseUrl()).apiKey("unused")
                .modelName(TestServers.MODEL).temperature(0.0).maxTokens(40).timeout(Duration.ofSeconds(60)).build();
        ChatResponse response = model.chat(UserMessage.from("The little bird"));
        assertEquals(TestServers.generate("--chat-template", "llama2", "-p", "The little bird", "--temp", "0", "-n",
                "40"), response.aiMessage().text());
        assertEquals(FinishReason.LENGTH, response.finishReason());
        assertEquals(40, response.tokenUsage().outputTokenCount());
    }

    @Test
    void streamingChatModelStreamsTheSameAnswer() throws Exception {
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(baseUrl()).apiKey("unused")
                .modelName(TestServers.MODEL).temperature(0.0).maxTokens(40).timeout(Duration.ofSeconds(60)).build();
        List<String> partials = new ArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(List.of(UserMessage.from("The little bird")), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partialResponse) {
                partials.add(partialResponse);
            }

            @Override
            public void onCompleteResponse(ChatResponse completeResponse) {
                done.complete(completeResponse);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse response = done.get(60, TimeUnit.SECONDS);
        String expected = TestServers.generate("--chat-template", "llama2", "-p", "The little bird", "--temp", "0",
                "-n", "40");
        assertEquals(expected, String.join("", partials));
        assertEquals(expected, response.aiMessage().text());
        assertTrue(partials.size() > 10, "streamed in pieces: " + partials.size());
    }

    @Test
    void chatModelKeepsASystemMessage() {
        OpenAiChatModel model = OpenAiChatModel.builder().baseUrl(baseUrl()).apiKey("unused")
                .modelName(TestServers.MODEL).temperature(0.0).maxTokens(20).build();
        ChatResponse plain = model.chat(UserMessage.from("Hello"));
        ChatResponse withSystem = model.chat(SystemMessage.from("You are a storyteller."), UserMessage.from("Hello"));
        assertTrue(withSystem.tokenUsage().inputTokenCount() > plain.tokenUsage().inputTokenCount() + 5,
                "the system prompt went into the template: " + withSystem.tokenUsage());
    }

    /** The completions endpoint; without max_tokens it runs to the end of text or a full slot context (256). */
    @Test
    void languageModelCompletesAsJllmGenerate() {
        OpenAiLanguageModel model = OpenAiLanguageModel.builder().baseUrl(baseUrl()).apiKey("unused")
                .modelName(TestServers.MODEL).temperature(0.0).timeout(Duration.ofSeconds(60)).build();
        String text = model.generate("One day, a boy").content();
        assertEquals(TestServers.generate("-p", "One day, a boy", "--temp", "0", "-c", "256"), text);
    }

    @Test
    void embeddingModelGivesUnitVectors() {
        OpenAiEmbeddingModel model = OpenAiEmbeddingModel.builder().baseUrl(baseUrl()).apiKey("unused")
                .modelName(TestServers.MODEL).build();
        float[] v = model.embed("Once upon a time").content().vector();
        assertEquals(64, v.length);
        double norm = 0;
        for (float x : v) {
            norm += x * x;
        }
        assertEquals(1.0, norm, 1e-5);
    }
}
