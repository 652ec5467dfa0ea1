package dev.jllm.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.chat.Conversation;
import dev.jllm.chat.Message;
import dev.jllm.sampling.LogitBias;
import dev.jllm.sampling.SamplerOptions;
import dev.jllm.sampling.SamplerOrder;
import dev.jllm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads OpenAI request bodies into jobs, checking every field it knows: a value of the wrong type or out of range gets
 * a 400 naming the field. Unknown fields are ignored, as OpenAI-compatible servers do. Sampling defaults are
 * llama.cpp's ({@code temperature 0.8, top_k 40, top_p 0.95, min_p 0.05}).
 */
final class RequestParser {

    static final int MAX_STOPS = 16;
    static final int MAX_TOP_LOGPROBS = 20;

    /** What a completion or chat completion asks for. */
    record Completion(Job.Spec spec, boolean stream, boolean includeUsage, boolean logprobs) {
    }

    private final Tokenizer tokenizer;
    private final int slotContext;

    RequestParser(Tokenizer tokenizer, int slotContext) {
        this.tokenizer = tokenizer;
        this.slotContext = slotContext;
    }

    /** {@code POST /v1/chat/completions}. */
    Completion chat(JsonNode body, ChatPrompt chat) {
        Conversation conversation = messages(body);
        rejectUnsupported(body);
        int[] prompt = chat.tokens(conversation);
        checkLength(prompt, "messages");
        boolean logprobs = bool(body, "logprobs", false);
        Integer top = integer(body, "top_logprobs", 0, MAX_TOP_LOGPROBS);
        if (top != null && !logprobs) {
            throw ApiException.invalid("top_logprobs", "top_logprobs needs \"logprobs\": true");
        }
        Integer maxTokens = integer(body, "max_completion_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens == null) {
            maxTokens = integer(body, "max_tokens", 1, Integer.MAX_VALUE);
        }
        List<String> stops = stops(body);
        if (chat.endOfTurnText() != null && !stops.contains(chat.endOfTurnText())) {
            stops.add(chat.endOfTurnText());
        }
        return completion(body, prompt, maxTokens, stops, chat.endOfTurnToken(), logprobs ? (top == null ? 0 : top) : -1);
    }

    /** {@code POST /v1/completions}. */
    Completion text(JsonNode body) {
        int[] prompt = prompt(body);
        rejectUnsupported(body);
        if (bool(body, "echo", false)) {
            throw ApiException.invalid("echo", "echo is not supported");
        }
        if (body.hasNonNull("suffix") && !body.get("suffix").asText().isEmpty()) {
            throw ApiException.invalid("suffix", "suffix is not supported");
        }
        Integer bestOf = integer(body, "best_of", 1, Integer.MAX_VALUE);
        if (bestOf != null && bestOf != 1) {
            throw ApiException.invalid("best_of", "only best_of = 1 is supported, got " + bestOf);
        }
        Integer top = integer(body, "logprobs", 0, MAX_TOP_LOGPROBS);
        Integer maxTokens = integer(body, "max_tokens", 1, Integer.MAX_VALUE);
        return completion(body, prompt, maxTokens, stops(body), -1, top == null ? -1 : top);
    }

    /** What {@code POST /v1/embeddings} asks for: the token ids of each input, and the encoding of the vectors. */
    record Embeddings(List<int[]> inputs, boolean base64, int tokens) {
    }

    /** {@code POST /v1/embeddings}; {@code dim} is the model's width, for the message refusing {@code dimensions}. */
    Embeddings embeddings(JsonNode body, int dim) {
        JsonNode input = body.get("input");
        if (input == null || input.isNull()) {
            throw ApiException.invalid("input", "missing_field", "\"input\" is required");
        }
        String format = body.path("encoding_format").asText("float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw ApiException.invalid("encoding_format", "encoding_format must be \"float\" or \"base64\", got '"
                    + format + "'");
        }
        if (body.hasNonNull("dimensions")) {
            throw ApiException.invalid("dimensions", "dimensions is not supported (the model's are " + dim + ")");
        }
        List<int[]> inputs = new ArrayList<>();
        if (input.isTextual()) {
            inputs.add(tokenizer.encode(input.asText(), tokenizer.addBosByDefault(), true));
        } else if (input.isArray() && !input.isEmpty() && input.get(0).isIntegralNumber()) {
            inputs.add(tokenIds(input, "input", tokenizer.vocabSize()));
        } else if (input.isArray() && !input.isEmpty()) {
            for (int i = 0; i < input.size(); i++) {
                JsonNode item = input.get(i);
                if (item.isTextual()) {
                    inputs.add(tokenizer.encode(item.asText(), tokenizer.addBosByDefault(), true));
                } else if (item.isArray() && !item.isEmpty()) {
                    inputs.add(tokenIds(item, "input[" + i + "]", tokenizer.vocabSize()));
                } else {
                    throw ApiException.invalid("input", "input[" + i + "] must be a string or an array of token ids");
                }
            }
        } else {
            throw ApiException.invalid("input", "\"input\" must be a string, an array of strings, or token ids");
        }
        int tokens = 0;
        for (int i = 0; i < inputs.size(); i++) {
            int n = inputs.get(i).length;
            if (n == 0) {
                throw ApiException.invalid("input", "input " + i + " is empty");
            }
            if (n > slotContext) {
                throw ApiException.invalid("input", "context_length_exceeded", "input " + i + " is " + n
                        + " tokens but a slot's context holds " + slotContext);
            }
            tokens += n;
        }
        return new Embeddings(inputs, format.equals("base64"), tokens);
    }

    /** What {@code POST /tokenize} asks for: the ids, and whether to answer with their pieces. */
    record Tokenize(int[] ids, boolean withPieces) {
    }

    /** {@code POST /tokenize} (llama.cpp's server's endpoint). */
    Tokenize tokenize(JsonNode body) {
        JsonNode content = body.get("content");
        if (content == null || !content.isTextual()) {
            throw ApiException.invalid("content", "\"content\" must be a string");
        }
        boolean addSpecial = bool(body, "add_special", false);
        boolean parseSpecial = bool(body, "parse_special", true);
        boolean withPieces = bool(body, "with_pieces", false);
        int[] ids = tokenizer.encode(content.asText(), addSpecial && tokenizer.addBosByDefault(),
                addSpecial && tokenizer.addEosByDefault(), parseSpecial);
        return new Tokenize(ids, withPieces);
    }

    /** {@code POST /detokenize}: the token ids to turn into text. */
    int[] detokenize(JsonNode body) {
        JsonNode tokens = body.get("tokens");
        if (tokens == null || !tokens.isArray()) {
            throw ApiException.invalid("tokens", "\"tokens\" must be an array of token ids");
        }
        return tokenIds(tokens, "tokens", tokenizer.vocabSize());
    }

    private Completion completion(JsonNode body, int[] prompt, Integer maxTokens, List<String> stops, int endOfTurn,
            int topLogprobs) {
        Integer n = integer(body, "n", 1, Integer.MAX_VALUE);
        if (n != null && n != 1) {
            throw ApiException.invalid("n", "only n = 1 is supported, got " + n);
        }
        boolean stream = bool(body, "stream", false);
        boolean includeUsage = false;
        JsonNode options = body.get("stream_options");
        if (options != null && !options.isNull()) {
            if (!options.isObject()) {
                throw ApiException.invalid("stream_options", "stream_options must be an object");
            }
            if (!stream) {
                throw ApiException.invalid("stream_options", "stream_options is only allowed with \"stream\": true");
            }
            includeUsage = bool(options, "include_usage", "stream_options.include_usage", false);
        }
        SamplerOptions sampler = sampler(body);
        Job.Spec spec = new Job.Spec(prompt, sampler, maxTokens == null ? -1 : maxTokens, stops, endOfTurn,
                topLogprobs, bool(body, "ignore_eos", false));
        return new Completion(spec, stream, includeUsage, topLogprobs >= 0);
    }

    private SamplerOptions sampler(JsonNode body) {
        Double temperature = number(body, "temperature", 0, 2);
        Double topP = number(body, "top_p", 0, 1);
        Integer topK = integer(body, "top_k", 0, Integer.MAX_VALUE);
        Double minP = number(body, "min_p", 0, 1);
        Double repeat = number(body, "repeat_penalty", 0, 10);
        if (repeat != null && repeat == 0) {
            throw ApiException.invalid("repeat_penalty", "repeat_penalty must be positive (1 = off), got 0");
        }
        Integer lastN = integer(body, "repeat_last_n", 0, Integer.MAX_VALUE);
        Double presence = number(body, "presence_penalty", -2, 2);
        Double frequency = number(body, "frequency_penalty", -2, 2);
        Long seed = longValue(body, "seed");
        List<LogitBias> biases = logitBias(body);
        SamplerOrder order = samplers(body);
        float p = topP == null ? 0.95f : topP.floatValue();
        return new SamplerOptions(
                temperature == null ? 0.8f : temperature.floatValue(),
                topK == null ? 40 : topK,
                p > 0 ? p : Float.MIN_VALUE, // top_p 0 keeps the most likely token only
                minP == null ? 0.05f : minP.floatValue(),
                repeat == null ? 1f : repeat.floatValue(),
                lastN == null ? 64 : lastN,
                seed != null ? seed : System.nanoTime(),
                presence == null ? 0f : presence.floatValue(),
                frequency == null ? 0f : frequency.floatValue(),
                biases, order);
    }

    /** OpenAI's {@code logit_bias}: {@code {"token id": bias}}, each bias from -100 to 100, added to the logit. */
    private List<LogitBias> logitBias(JsonNode body) {
        JsonNode bias = body.get("logit_bias");
        List<LogitBias> out = new ArrayList<>();
        if (bias == null || bias.isNull()) {
            return out;
        }
        if (!bias.isObject()) {
            throw ApiException.invalid("logit_bias", "logit_bias must be an object {\"token id\": bias}");
        }
        int vocab = tokenizer.vocabSize();
        for (var entry : bias.properties()) {
            int id;
            try {
                id = Integer.parseInt(entry.getKey());
            } catch (NumberFormatException e) {
                throw ApiException.invalid("logit_bias", "logit_bias keys must be token ids, got '" + entry.getKey()
                        + "'");
            }
            if (id < 0 || id >= vocab) {
                throw ApiException.invalid("logit_bias", "token id " + id + " in logit_bias is outside the vocabulary"
                        + " (0.." + (vocab - 1) + ")");
            }
            JsonNode v = entry.getValue();
            if (!v.isNumber() || !(v.asDouble() >= -100 && v.asDouble() <= 100)) {
                throw ApiException.invalid("logit_bias", "the bias of token " + id + " must be a number from -100 to"
                        + " 100, got " + v);
            }
            out.add(new LogitBias(id, (float) v.asDouble()));
        }
        return out;
    }

    /**
     * llama-server's {@code samplers}: the chain's samplers in order, as an array of names ({@code --samplers}) or a
     * string of letters ({@code --sampler-seq}).
     */
    private static SamplerOrder samplers(JsonNode body) {
        JsonNode samplers = body.get("samplers");
        if (samplers == null || samplers.isNull()) {
            return SamplerOrder.DEFAULT;
        }
        try {
            if (samplers.isTextual()) {
                return SamplerOrder.parseLetters(samplers.asText());
            }
            if (samplers.isArray()) {
                List<String> names = new ArrayList<>();
                for (JsonNode name : samplers) {
                    if (!name.isTextual()) {
                        throw ApiException.invalid("samplers", "samplers must be an array of names or a string of"
                                + " letters");
                    }
                    names.add(name.asText());
                }
                return SamplerOrder.parse(String.join(";", names));
            }
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("samplers", e.getMessage().replaceFirst("^--sampler(s|-seq): ", "samplers: "));
        }
        throw ApiException.invalid("samplers", "samplers must be an array of names or a string of letters");
    }

    private static void rejectUnsupported(JsonNode body) {
        for (String field : List.of("tools", "functions")) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
                throw ApiException.invalid(field, field + " (function calling) is not supported");
            }
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull()) {
            String type = format.path("type").asText("");
            if (!type.equals("text")) {
                throw ApiException.invalid("response_format", "only response_format {\"type\": \"text\"} is supported");
            }
        }
    }

    // ---- prompts ----

    private static final Set<String> ROLES = Set.of(Message.SYSTEM, Message.USER, Message.ASSISTANT, "developer");

    private static Conversation messages(JsonNode body) {
        JsonNode messages = body.get("messages");
        if (messages == null || messages.isNull()) {
            throw ApiException.invalid("messages", "missing_field", "\"messages\" is required");
        }
        if (!messages.isArray() || messages.isEmpty()) {
            throw ApiException.invalid("messages", "\"messages\" must be a non-empty array of {\"role\", \"content\"}");
        }
        List<Message> out = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiException.invalid(at, at + " must be an object {\"role\", \"content\"}");
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) {
                throw ApiException.invalid(at + ".role", at + ".role must be a string");
            }
            if (!ROLES.contains(role.asText())) {
                throw ApiException.invalid(at + ".role", "unknown role '" + role.asText() + "' in " + at
                        + " (supported: system, developer, user, assistant)");
            }
            String r = role.asText().equals("developer") ? Message.SYSTEM : role.asText();
            out.add(new Message(r, content(m.get("content"), at + ".content", r.equals(Message.ASSISTANT))));
        }
        return new Conversation(out);
    }

    /** A message's text: a string, or an array of text parts (joined with newlines). */
    private static String content(JsonNode content, String at, boolean mayBeNull) {
        if (content == null || content.isNull()) {
            if (mayBeNull) {
                return "";
            }
            throw ApiException.invalid(at, at + " is required");
        }
        if (content.isTextual()) {
            return content.asText();
        }
        if (content.isArray()) {
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < content.size(); i++) {
                JsonNode part = content.get(i);
                if (!part.path("type").asText().equals("text") || !part.path("text").isTextual()) {
                    throw ApiException.invalid(at + "[" + i + "]", "only text content parts {\"type\": \"text\","
                            + " \"text\": ...} are supported");
                }
                if (i > 0) {
                    text.append('\n');
                }
                text.append(part.get("text").asText());
            }
            return text.toString();
        }
        throw ApiException.invalid(at, at + " must be a string or an array of text parts");
    }

    /** A completion prompt: a string, one string in an array, or token ids (possibly in an array of one). */
    private int[] prompt(JsonNode body) {
        JsonNode prompt = body.get("prompt");
        if (prompt == null || prompt.isNull()) {
            throw ApiException.invalid("prompt", "missing_field", "\"prompt\" is required");
        }
        if (prompt.isArray() && prompt.size() == 1 && (prompt.get(0).isTextual() || prompt.get(0).isArray())) {
            prompt = prompt.get(0);
        }
        int[] ids;
        if (prompt.isTextual()) {
            ids = tokenizer.encode(prompt.asText(), tokenizer.addBosByDefault(), true);
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            ids = tokenIds(prompt, "prompt", tokenizer.vocabSize());
        } else {
            throw ApiException.invalid("prompt", "\"prompt\" must be a string, or token ids; one prompt per request");
        }
        checkLength(ids, "prompt");
        return ids;
    }

    /** An array of token ids, each in the vocabulary. */
    static int[] tokenIds(JsonNode array, String field, int vocab) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = array.get(i);
            if (!t.canConvertToInt() || !t.isIntegralNumber()) {
                throw ApiException.invalid(field, field + "[" + i + "] must be a token id (an integer)");
            }
            ids[i] = t.asInt();
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw ApiException.invalid(field, "token id " + ids[i] + " at " + field + "[" + i
                        + "] is outside the vocabulary (0.." + (vocab - 1) + ")");
            }
        }
        return ids;
    }

    private void checkLength(int[] prompt, String field) {
        if (prompt.length == 0) {
            throw ApiException.invalid(field, "the prompt is empty and the model adds no BOS token");
        }
        if (prompt.length >= slotContext) {
            throw ApiException.invalid(field, "context_length_exceeded", "the prompt is " + prompt.length
                    + " tokens but a slot's context holds " + slotContext + " (the server's --ctx-size divided by"
                    + " --parallel); shorten the prompt");
        }
    }

    private static List<String> stops(JsonNode body) {
        JsonNode stop = body.get("stop");
        List<String> out = new ArrayList<>();
        if (stop == null || stop.isNull()) {
            return out;
        }
        if (stop.isTextual()) {
            stop = Json.MAPPER.createArrayNode().add(stop.asText());
        }
        if (!stop.isArray()) {
            throw ApiException.invalid("stop", "\"stop\" must be a string or an array of strings");
        }
        if (stop.size() > MAX_STOPS) {
            throw ApiException.invalid("stop", "at most " + MAX_STOPS + " stop strings, got " + stop.size());
        }
        for (JsonNode s : stop) {
            if (!s.isTextual() || s.asText().isEmpty()) {
                throw ApiException.invalid("stop", "each stop string must be a non-empty string");
            }
            out.add(s.asText());
        }
        return out;
    }

    // ---- typed fields ----

    static boolean bool(JsonNode body, String field, boolean absent) {
        return bool(body, field, field, absent);
    }

    private static boolean bool(JsonNode body, String field, String name, boolean absent) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return absent;
        }
        if (!v.isBoolean()) {
            throw ApiException.invalid(name, name + " must be true or false");
        }
        return v.asBoolean();
    }

    private static Double number(JsonNode body, String field, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isNumber()) {
            throw ApiException.invalid(field, field + " must be a number");
        }
        double d = v.asDouble();
        if (!(d >= min && d <= max)) {
            throw ApiException.invalid(field, field + " must be between " + fmt(min) + " and " + fmt(max) + ", got "
                    + v.asText());
        }
        return d;
    }

    static Integer integer(JsonNode body, String field, long min, long max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw ApiException.invalid(field, field + " must be an integer");
        }
        long x = v.asLong();
        if (x < min || x > max) {
            throw ApiException.invalid(field, field + " must be " + (max == Integer.MAX_VALUE ? "at least " + min
                    : "between " + min + " and " + max) + ", got " + x);
        }
        return (int) x;
    }

    private static Long longValue(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw ApiException.invalid(field, field + " must be an integer");
        }
        return v.asLong();
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
