package dev.jllm.server;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.engine.Model;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of the server's request bodies, through the server's own parsing without starting
 * it: the first byte picks the endpoint (chat completions, completions, embeddings, tokenize, detokenize), the rest is
 * the body. Each body gets a job specification or a 400 error, never another status or exception. Chat bodies are
 * rendered with a real template (Llama 3.1's, with tools and dates) and tokenized with stories260K's vocabulary.
 * Corpus in {@code RequestBodyFuzzTestInputs/}; {@code mvn verify} replays it, {@code bench/fuzz.sh} fuzzes.
 */
public class RequestBodyFuzzTest {

    private static final Predicate<Throwable> OWN = t -> t instanceof ApiException e && e.status == 400;
    /** Heap per input byte: Jackson's tree of the body, the rendered prompt and its token ids. */
    private static final long BYTES_PER_BYTE = 256;
    /**
     * Heap per input byte of a chat request, which is also rendered by Llama 3.1's template and tokenized: fuzzing
     * found a 3,106-byte body of long runs that took 5.7 MB (about 490 bytes per byte beyond the fixed allowance;
     * SentencePiece encoding alone takes 130 to 230 bytes per character, linearly).
     */
    private static final long CHAT_BYTES_PER_BYTE = 1024;
    private static final String[] ENDPOINTS = {"chat", "completions", "embeddings", "tokenize", "detokenize"};

    private static Model model;
    private static RequestParser parser;
    private static ChatPrompt chat;

    private static synchronized void load() throws java.io.IOException {
        if (model == null) {
            model = Model.load(SharedTestData.file("models/stories260K.gguf"), null);
            parser = new RequestParser(model.tokenizer(), 512);
            chat = new ChatPrompt(model, ChatTemplate.of("Llama-3.1", java.nio.file.Files.readString(
                    SharedTestData.file("chat-templates/meta-llama-Llama-3.1-8B-Instruct.jinja"))));
        }
    }

    public static FuzzSeeds.Target seeds() {
        Map<String, String> bodies = new LinkedHashMap<>();
        bodies.put("chat", """
                {"model": "x", "messages": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]},
                  {"role": "assistant", "content": null}, {"role": "developer", "content": "Once upon a time"}],
                 "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "max_tokens": 32, "seed": 42,
                 "stop": ["\\n\\n", "END"], "stream": true, "stream_options": {"include_usage": true},
                 "logprobs": true, "top_logprobs": 3, "presence_penalty": 0.5, "frequency_penalty": -0.5,
                 "repeat_penalty": 1.1, "repeat_last_n": 64, "n": 1, "tools": [], "response_format": {"type": "text"},
                 "logit_bias": {}, "ignore_eos": false, "max_completion_tokens": 16}
                """);
        bodies.put("completions", """
                {"prompt": "Once upon a time", "max_tokens": 20, "temperature": 0, "logprobs": 2, "echo": false,
                 "suffix": "", "best_of": 1, "stop": "\\n", "seed": -1, "stream": false}
                """);
        bodies.put("completions-ids", """
                {"prompt": [[1, 403, 407, 261, 378]], "max_tokens": 8}
                """);
        bodies.put("embeddings", """
                {"input": ["Once upon a time", [1, 2, 3]], "encoding_format": "base64", "model": "x"}
                """);
        bodies.put("embeddings-ids", """
                {"input": [1, 403, 407], "encoding_format": "float"}
                """);
        bodies.put("tokenize", """
                {"content": "Once upon a time <s> there was", "add_special": true, "parse_special": true,
                 "with_pieces": true}
                """);
        bodies.put("detokenize", """
                {"tokens": [1, 403, 407, 261, 378, 2]}
                """);
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : bodies.entrySet()) {
            String endpoint = e.getKey().replace("-ids", "");
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(List.of(ENDPOINTS).indexOf(endpoint));
            out.writeBytes(e.getValue().getBytes(StandardCharsets.UTF_8));
            seeds.put(e.getKey() + ".json", out.toByteArray());
        }
        return new FuzzSeeds.Target(RequestBodyFuzzTest.class, "requestBodies", seeds);
    }

    @FuzzTest
    @Timeout(60)
    void requestBodies(byte[] input) throws Exception {
        load();
        if (input.length == 0) {
            return;
        }
        String endpoint = ENDPOINTS[(input[0] & 0xFF) % ENDPOINTS.length];
        byte[] body = java.util.Arrays.copyOfRange(input, 1, input.length);
        long perByte = endpoint.equals("chat") ? CHAT_BYTES_PER_BYTE : BYTES_PER_BYTE;
        FuzzContract.check("request body (" + endpoint + ")", input.length, perByte, OWN, () -> {
            JsonNode json = Json.parseObject(body);
            switch (endpoint) {
                case "chat" -> parser.chat(json, chat);
                case "completions" -> parser.text(json);
                case "embeddings" -> parser.embeddings(json, model.config().dim());
                case "tokenize" -> parser.tokenize(json);
                default -> model.tokenizer().decode(parser.detokenize(json));
            }
        });
    }
}
