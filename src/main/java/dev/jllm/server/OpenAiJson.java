package dev.jllm.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.sampling.TokenLogprobs;
import dev.jllm.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.List;

/** OpenAI's response shapes, field for field: completions, chat completions, their stream chunks, usage, logprobs. */
final class OpenAiJson {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private final Tokenizer tokenizer;
    private final String model;

    OpenAiJson(Tokenizer tokenizer, String model) {
        this.tokenizer = tokenizer;
        this.model = model;
    }

    static String newId(String prefix) {
        StringBuilder b = new StringBuilder(prefix);
        for (int i = 0; i < 24; i++) {
            b.append(ID_CHARS.charAt(RANDOM.nextInt(ID_CHARS.length())));
        }
        return b.toString();
    }

    /** The fields every response and chunk starts with. */
    ObjectNode head(String id, String object, long created) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", model);
        o.put("system_fingerprint", "jllm");
        return o;
    }

    static ObjectNode usage(Job.Usage u) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("prompt_tokens", u.promptTokens());
        o.put("completion_tokens", u.completionTokens());
        o.put("total_tokens", u.promptTokens() + u.completionTokens());
        o.putObject("prompt_tokens_details").put("cached_tokens", u.cachedTokens());
        return o;
    }

    /** A whole chat completion ({@code stream: false}). */
    ObjectNode chatCompletion(String id, long created, String text, List<TokenLogprobs> logprobs, Job.Done done) {
        ObjectNode o = head(id, "chat.completion", created);
        ObjectNode choice = o.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        message.put("content", text);
        message.putNull("refusal");
        message.putArray("annotations");
        if (logprobs != null) {
            choice.putObject("logprobs").set("content", chatLogprobs(logprobs));
        } else {
            choice.putNull("logprobs");
        }
        choice.put("finish_reason", done.reason().openAi);
        o.set("usage", usage(done.usage()));
        return o;
    }

    /** One chunk of a streamed chat completion. */
    ObjectNode chatChunk(String id, long created, ObjectNode delta, List<TokenLogprobs> logprobs, String finishReason,
            boolean usageField) {
        ObjectNode o = head(id, "chat.completion.chunk", created);
        ObjectNode choice = o.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        if (logprobs != null) {
            choice.putObject("logprobs").set("content", chatLogprobs(logprobs));
        } else {
            choice.putNull("logprobs");
        }
        choice.put("finish_reason", finishReason);
        if (usageField) {
            o.putNull("usage");
        }
        return o;
    }

    /** The last chunk of a stream with {@code stream_options.include_usage}: no choices, the usage. */
    ObjectNode usageChunk(String id, long created, String object, Job.Usage usage) {
        ObjectNode o = head(id, object, created);
        o.putArray("choices");
        o.set("usage", usage(usage));
        return o;
    }

    /** A whole text completion. */
    ObjectNode textCompletion(String id, long created, String text, List<TokenLogprobs> logprobs, Job.Done done) {
        ObjectNode o = head(id, "text_completion", created);
        o.putArray("choices").add(textChoice(text, logprobs, done.reason().openAi, 0));
        o.set("usage", usage(done.usage()));
        return o;
    }

    /** One chunk of a streamed text completion; {@code textOffset} is where its text starts in the completion. */
    ObjectNode textChunk(String id, long created, String text, List<TokenLogprobs> logprobs, String finishReason,
            long textOffset, boolean usageField) {
        ObjectNode o = head(id, "text_completion", created);
        o.putArray("choices").add(textChoice(text, logprobs, finishReason, textOffset));
        if (usageField) {
            o.putNull("usage");
        }
        return o;
    }

    private ObjectNode textChoice(String text, List<TokenLogprobs> logprobs, String finishReason, long textOffset) {
        ObjectNode choice = Json.MAPPER.createObjectNode();
        choice.put("text", text);
        choice.put("index", 0);
        if (logprobs != null) {
            ObjectNode lp = choice.putObject("logprobs");
            ArrayNode tokens = lp.putArray("tokens");
            ArrayNode values = lp.putArray("token_logprobs");
            ArrayNode tops = lp.putArray("top_logprobs");
            ArrayNode offsets = lp.putArray("text_offset");
            long offset = textOffset;
            for (TokenLogprobs t : logprobs) {
                String token = tokenText(t.token());
                tokens.add(token);
                values.add(t.logprob());
                ObjectNode top = tops.addObject();
                for (int i = 0; i < t.topTokens().length; i++) {
                    top.put(tokenText(t.topTokens()[i]), t.topLogprobs()[i]);
                }
                offsets.add(offset);
                offset += token.length();
            }
        } else {
            choice.putNull("logprobs");
        }
        choice.put("finish_reason", finishReason);
        return choice;
    }

    private ArrayNode chatLogprobs(List<TokenLogprobs> logprobs) {
        ArrayNode content = Json.MAPPER.createArrayNode();
        for (TokenLogprobs t : logprobs) {
            ObjectNode entry = tokenEntry(t.token(), t.logprob());
            ArrayNode top = entry.putArray("top_logprobs");
            for (int i = 0; i < t.topTokens().length; i++) {
                top.add(tokenEntry(t.topTokens()[i], t.topLogprobs()[i]));
            }
            content.add(entry);
        }
        return content;
    }

    private ObjectNode tokenEntry(int id, float logprob) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        byte[] bytes = tokenizer.renderBytes(id);
        o.put("token", new String(bytes, StandardCharsets.UTF_8));
        o.put("logprob", logprob);
        ArrayNode b = o.putArray("bytes");
        for (byte x : bytes) {
            b.add(x & 0xFF);
        }
        return o;
    }

    private String tokenText(int id) {
        return new String(tokenizer.renderBytes(id), StandardCharsets.UTF_8);
    }
}
