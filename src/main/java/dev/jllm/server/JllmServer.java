package dev.jllm.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.engine.Model;
import dev.jllm.sampling.TokenLogprobs;
import dev.jllm.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI-compatible HTTP server: the JDK's HTTP server with one virtual thread per exchange. Handlers parse and
 * check requests, hand jobs to the {@link Scheduler} (which alone touches the model) and turn its events into JSON or
 * server-sent events. A client that goes away is noticed at the next write (streams write every token, and a
 * non-streaming answer that takes longer than a second is sent as a chunked body led by whitespace, one space every
 * half second), and its job is cancelled.
 */
public final class JllmServer implements AutoCloseable {

    private static final long POLL_MILLIS = 500;
    private static final long COMMIT_AFTER_NANOS = 1_000_000_000L;

    private final ServerOptions options;
    private final PrintStream log;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final Metrics metrics = new Metrics();
    private final List<byte[]> keyDigests = new ArrayList<>();
    private final Map<String, StaticFile> files;
    private final long createdSeconds = Instant.now().getEpochSecond();

    private volatile Model model;
    private volatile Scheduler scheduler;
    private volatile RequestParser parser;
    private volatile ChatPrompt chat;
    private volatile OpenAiJson json;
    private volatile boolean shuttingDown;
    private volatile boolean closed;

    private record StaticFile(byte[] bytes, String contentType) {
    }

    private JllmServer(ServerOptions options, PrintStream log) throws IOException {
        this.options = options;
        this.log = log;
        for (String key : options.apiKeys()) {
            keyDigests.add(sha256(key));
        }
        this.files = Map.of(
                "/", page("index.html", "text/html; charset=utf-8"),
                "/index.html", page("index.html", "text/html; charset=utf-8"),
                "/chat.js", page("chat.js", "text/javascript; charset=utf-8"),
                "/chat.css", page("chat.css", "text/css; charset=utf-8"));
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true"); // stream chunks leave at once (no Nagle delay)
        }
        this.http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 256);
        this.handlers = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(handlers);
        http.createContext("/", this::handle);
        http.start();
    }

    /**
     * Binds the address and starts answering: {@code /health} says 503 until {@link #serve} has loaded and warmed up
     * the model.
     */
    public static JllmServer bind(ServerOptions options, PrintStream log) throws IOException {
        return new JllmServer(options, log);
    }

    /** The address the server listens on (with the port chosen when 0 was asked for). */
    public InetSocketAddress address() {
        return http.getAddress();
    }

    public String url() {
        InetSocketAddress a = address();
        String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return "http://" + host + ":" + a.getPort();
    }

    public ServerOptions options() {
        return options;
    }

    /**
     * Starts serving {@code model}: allocates the KV cache, warms the model up (a prefill-sized and decode-sized
     * batches, so the JIT has compiled the kernels) and returns when the server answers requests.
     *
     * @param template the chat template, or null when the model has none (chat requests then get a 400)
     */
    public void serve(Model model, ChatTemplate template) {
        Tokenizer tokenizer = model.tokenizer();
        Scheduler s = new Scheduler(model, new Scheduler.Settings(options.parallel(), options.slotContext(),
                options.batchSize(), options.prefillChunk(), options.maxQueue(), options.cacheType(),
                options.stepDelayMillis()), metrics, log);
        this.parser = new RequestParser(tokenizer, options.slotContext());
        this.chat = new ChatPrompt(model, template);
        this.json = new OpenAiJson(tokenizer, options.alias());
        this.model = model;
        this.scheduler = s;
        s.start();
        try {
            while (!s.awaitReady(1, TimeUnit.SECONDS)) {
                if (closed) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while warming up", e);
        }
    }

    /** Slots running a request now. */
    public int busySlots() {
        Scheduler s = scheduler;
        return s == null ? 0 : s.busySlots();
    }

    /**
     * Stops accepting connections and requests; running requests may finish within the grace period of the options,
     * then are cancelled; returns when all is closed.
     */
    public void shutdown() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            shuttingDown = true;
        }
        Scheduler s = scheduler;
        long grace = options.shutdownGraceMillis();
        if (s != null) {
            s.shutdown(grace);
        }
        // Closes the listener now; waits for the handlers, which end when their jobs finish or are cancelled.
        http.stop((int) Math.max(1, (grace + 1999) / 1000));
        if (s != null) {
            try {
                s.awaitStopped(grace + 5000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        handlers.shutdownNow();
    }

    @Override
    public void close() {
        shutdown();
    }

    // ---- routing ----

    private enum Route {
        HEALTH("health", "GET", false), METRICS("metrics", "GET", true), MODELS("models", "GET", true),
        COMPLETIONS("completions", "POST", true), CHAT("chat_completions", "POST", true),
        EMBEDDINGS("embeddings", "POST", true), TOKENIZE("tokenize", "POST", true),
        DETOKENIZE("detokenize", "POST", true), PAGE("page", "GET", false), NOT_FOUND("other", null, true);

        final String endpoint;
        final String method;
        final boolean needsKey;

        Route(String endpoint, String method, boolean needsKey) {
            this.endpoint = endpoint;
            this.method = method;
            this.needsKey = needsKey;
        }
    }

    private Route route(String path) {
        return switch (path) {
            case "/health", "/v1/health" -> Route.HEALTH;
            case "/metrics" -> Route.METRICS;
            case "/v1/models", "/models" -> Route.MODELS;
            case "/v1/completions", "/completions" -> Route.COMPLETIONS;
            case "/v1/chat/completions", "/chat/completions" -> Route.CHAT;
            case "/v1/embeddings", "/embeddings" -> Route.EMBEDDINGS;
            case "/tokenize" -> Route.TOKENIZE;
            case "/detokenize" -> Route.DETOKENIZE;
            default -> files.containsKey(path) ? Route.PAGE : Route.NOT_FOUND;
        };
    }

    private void handle(HttpExchange exchange) {
        Reply reply = new Reply(exchange);
        String path = exchange.getRequestURI().getPath();
        Route route = route(path);
        int status = 500;
        try {
            exchange.getResponseHeaders().add("Access-Control-Allow-Origin", "*");
            String method = exchange.getRequestMethod();
            if (method.equals("OPTIONS")) {
                exchange.getResponseHeaders().add("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                exchange.getResponseHeaders().add("Access-Control-Allow-Headers", "Authorization, Content-Type");
                exchange.getResponseHeaders().add("Access-Control-Max-Age", "86400");
                exchange.sendResponseHeaders(204, -1);
                status = 204;
                return;
            }
            if (route.needsKey) {
                checkKey(exchange);
            }
            if (route == Route.NOT_FOUND) {
                throw new ApiException(404, ApiException.INVALID_REQUEST, null, "not_found",
                        "no such endpoint: " + method + " " + path, 0);
            }
            if (!method.equals(route.method)) {
                exchange.getResponseHeaders().add("Allow", route.method);
                throw new ApiException(405, ApiException.INVALID_REQUEST, null, "method_not_allowed",
                        path + " takes " + route.method + ", not " + method, 0);
            }
            status = dispatch(route, exchange, reply, path);
        } catch (ApiException e) {
            status = e.status;
            sendError(reply, e);
        } catch (IOException e) {
            status = 499; // the client went away (nginx's code for it, in the metrics only)
        } catch (RuntimeException e) {
            log.println("jllm serve: internal error on " + path + ": " + e);
            e.printStackTrace(log);
            status = 500;
            sendError(reply, new ApiException(500, ApiException.SERVER_ERROR, null, "internal_error",
                    "internal error: " + e.getMessage(), 0));
        } finally {
            metrics.request(route.endpoint, status);
            exchange.close();
        }
    }

    private int dispatch(Route route, HttpExchange exchange, Reply reply, String path) throws IOException {
        return switch (route) {
            case HEALTH -> health(reply);
            case METRICS -> reply.send(200, "text/plain; version=0.0.4; charset=utf-8",
                    metrics.render().getBytes(StandardCharsets.UTF_8));
            case MODELS -> reply.json(200, models());
            case PAGE -> {
                StaticFile f = files.get(path);
                exchange.getResponseHeaders().add("Cache-Control", "no-cache");
                exchange.getResponseHeaders().add("Content-Security-Policy",
                        "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:");
                yield reply.send(200, f.contentType(), f.bytes());
            }
            case COMPLETIONS -> generation(reply, body(exchange), false);
            case CHAT -> generation(reply, body(exchange), true);
            case EMBEDDINGS -> embeddings(reply, body(exchange));
            case TOKENIZE -> tokenize(reply, body(exchange));
            case DETOKENIZE -> detokenize(reply, body(exchange));
            case NOT_FOUND -> throw new IllegalStateException();
        };
    }

    // ---- security and limits ----

    /** 401 unless the request carries one of the keys; digests are compared in constant time, every key every time. */
    private void checkKey(HttpExchange exchange) {
        if (keyDigests.isEmpty()) {
            return;
        }
        String header = exchange.getRequestHeaders().getFirst("Authorization");
        String given = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).strip()
                : "";
        byte[] digest = sha256(given);
        boolean ok = false;
        for (byte[] key : keyDigests) {
            ok |= MessageDigest.isEqual(key, digest);
        }
        if (!ok) {
            exchange.getResponseHeaders().add("WWW-Authenticate", "Bearer");
            throw new ApiException(401, ApiException.AUTHENTICATION, null, "invalid_api_key",
                    header == null ? "no API key: send it as \"Authorization: Bearer KEY\"" : "invalid API key", 0);
        }
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The request body as a JSON object: 413 beyond the limit (read no further than needed to say so). */
    private JsonNode body(HttpExchange exchange) throws IOException {
        long limit = options.maxBodyBytes();
        String length = exchange.getRequestHeaders().getFirst("Content-Length");
        long declared = -1;
        if (length != null) {
            try {
                declared = Long.parseLong(length.strip());
            } catch (NumberFormatException e) {
                throw ApiException.invalid(null, "bad Content-Length: " + length);
            }
        }
        InputStream in = exchange.getRequestBody();
        if (declared > limit) {
            drain(in, Math.min(declared, 4 * limit));
            throw tooLarge(declared + " bytes");
        }
        byte[] bytes = in.readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
        if (bytes.length > limit) {
            drain(in, 3 * limit);
            throw tooLarge("more than " + limit + " bytes");
        }
        return Json.parseObject(bytes);
    }

    /** Reads (and drops) up to {@code max} more bytes, so the client can read the 413 instead of a reset connection. */
    private static void drain(InputStream in, long max) throws IOException {
        byte[] buffer = new byte[65536];
        long read = 0;
        int n;
        while (read < max && (n = in.read(buffer)) > 0) {
            read += n;
        }
    }

    private ApiException tooLarge(String size) {
        return new ApiException(413, ApiException.INVALID_REQUEST, null, "request_too_large",
                "the request body is " + size + "; the limit is " + options.maxBodyBytes() + " bytes (--max-body)", 0);
    }

    private void requireModel() {
        if (shuttingDown) {
            throw ApiException.unavailable("shutting_down", "the server is shutting down", 0);
        }
        Scheduler s = scheduler;
        if (s == null || !s.ready()) {
            throw ApiException.unavailable("loading", "the model is loading; retry shortly", 2);
        }
    }

    private void sendError(Reply reply, ApiException e) {
        try {
            if (reply.started) {
                reply.write(Json.bytes(e.body()));
                return;
            }
            if (e.retryAfterSeconds > 0) {
                reply.exchange.getResponseHeaders().add("Retry-After", Integer.toString(e.retryAfterSeconds));
            }
            reply.json(e.status, e.body());
        } catch (IOException ignored) {
            // the client is gone; nothing to tell it
        }
    }

    // ---- endpoints ----

    private int health(Reply reply) throws IOException {
        if (shuttingDown) {
            throw ApiException.unavailable("shutting_down", "the server is shutting down", 0);
        }
        Scheduler s = scheduler;
        if (s == null || !s.ready()) {
            throw ApiException.unavailable("loading", "the model is loading", 2);
        }
        ObjectNode ok = Json.MAPPER.createObjectNode();
        ok.put("status", "ok");
        return reply.json(200, ok);
    }

    private ObjectNode models() {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("object", "list");
        ObjectNode m = root.putArray("data").addObject();
        m.put("id", options.alias());
        m.put("object", "model");
        m.put("created", createdSeconds);
        m.put("owned_by", "jllm");
        ObjectNode meta = m.putObject("meta");
        meta.put("n_ctx", options.contextSize());
        meta.put("n_ctx_slot", options.slotContext());
        meta.put("n_parallel", options.parallel());
        Model loaded = model;
        if (loaded != null) {
            meta.put("n_vocab", loaded.config().vocabSize());
            meta.put("n_embd", loaded.config().dim());
            meta.put("n_ctx_train", loaded.config().contextLength());
            ChatPrompt c = chat;
            if (c != null && c.templateName() != null) {
                meta.put("chat_template", c.templateName());
            }
        }
        return root;
    }

    private int generation(Reply reply, JsonNode body, boolean chatKind) throws IOException {
        requireModel();
        RequestParser.Completion request = chatKind ? parser.chat(body, chat) : parser.text(body);
        Job.Generate job = new Job.Generate(request.spec());
        scheduler.submit(job);
        String id = OpenAiJson.newId(chatKind ? "chatcmpl-" : "cmpl-");
        long created = Instant.now().getEpochSecond();
        try {
            return request.stream() ? stream(reply, job, request, id, created, chatKind)
                    : whole(reply, job, request, id, created, chatKind);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } finally {
            job.cancel(); // a no-op when it finished; otherwise the scheduler frees its slot at the next step
        }
    }

    private int stream(Reply reply, Job.Generate job, RequestParser.Completion request, String id, long created,
            boolean chatKind) throws IOException, InterruptedException {
        reply.exchange.getResponseHeaders().add("Cache-Control", "no-cache");
        reply.exchange.getResponseHeaders().add("X-Accel-Buffering", "no");
        reply.start(200, "text/event-stream; charset=utf-8");
        boolean usageField = request.includeUsage();
        if (chatKind) {
            ObjectNode delta = Json.MAPPER.createObjectNode().put("role", "assistant").put("content", "");
            reply.event(json.chatChunk(id, created, delta, null, null, usageField));
        }
        long offset = 0;
        while (true) {
            Job.Event event = job.events.poll(POLL_MILLIS, TimeUnit.MILLISECONDS);
            if (event == null) {
                reply.write(": keep-alive\n\n".getBytes(StandardCharsets.US_ASCII));
                continue;
            }
            switch (event) {
                case Job.Delta d -> {
                    List<TokenLogprobs> lp = request.logprobs() ? d.logprobs() : null;
                    if (chatKind) {
                        ObjectNode delta = Json.MAPPER.createObjectNode().put("content", d.text());
                        reply.event(json.chatChunk(id, created, delta, lp, null, usageField));
                    } else {
                        reply.event(json.textChunk(id, created, d.text(), lp, null, offset, usageField));
                    }
                    offset += d.text().length();
                }
                case Job.Done d -> {
                    if (chatKind) {
                        reply.event(json.chatChunk(id, created, Json.MAPPER.createObjectNode(),
                                request.logprobs() ? List.of() : null, d.reason().openAi, usageField));
                    } else {
                        reply.event(json.textChunk(id, created, "", request.logprobs() ? List.of() : null,
                                d.reason().openAi, offset, usageField));
                    }
                    if (usageField) {
                        reply.event(json.usageChunk(id, created, chatKind ? "chat.completion.chunk" : "text_completion",
                                d.usage()));
                    }
                    reply.write("data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII));
                    return 200;
                }
                case Job.Failed f -> {
                    reply.event(f.error().body());
                    return f.error().status;
                }
            }
        }
    }

    private int whole(Reply reply, Job.Generate job, RequestParser.Completion request, String id, long created,
            boolean chatKind) throws IOException, InterruptedException {
        StringBuilder text = new StringBuilder();
        List<TokenLogprobs> logprobs = request.logprobs() ? new ArrayList<>() : null;
        long start = System.nanoTime();
        long lastBeat = start;
        while (true) {
            Job.Event event = job.events.poll(POLL_MILLIS, TimeUnit.MILLISECONDS);
            long now = System.nanoTime();
            if (!reply.started && now - start > COMMIT_AFTER_NANOS) {
                reply.start(200, "application/json");
            }
            if (reply.started && now - lastBeat >= POLL_MILLIS * 1_000_000L) {
                reply.write(new byte[] {' '}); // JSON allows leading whitespace; a gone client fails this write
                lastBeat = now;
            }
            if (event == null) {
                continue;
            }
            switch (event) {
                case Job.Delta d -> {
                    text.append(d.text());
                    if (logprobs != null) {
                        logprobs.addAll(d.logprobs());
                    }
                }
                case Job.Done d -> {
                    ObjectNode body = chatKind ? json.chatCompletion(id, created, text.toString(), logprobs, d)
                            : json.textCompletion(id, created, text.toString(), logprobs, d);
                    if (reply.started) {
                        reply.write(Json.bytes(body));
                        return 200;
                    }
                    return reply.json(200, body);
                }
                case Job.Failed f -> throw f.error();
            }
        }
    }

    private int embeddings(Reply reply, JsonNode body) throws IOException {
        requireModel();
        Tokenizer tokenizer = model.tokenizer();
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
            throw ApiException.invalid("dimensions", "dimensions is not supported (the model's are "
                    + model.config().dim() + ")");
        }
        List<int[]> inputs = new ArrayList<>();
        if (input.isTextual()) {
            inputs.add(tokenizer.encode(input.asText(), tokenizer.addBosByDefault(), true));
        } else if (input.isArray() && !input.isEmpty() && input.get(0).isIntegralNumber()) {
            inputs.add(RequestParser.tokenIds(input, "input", tokenizer.vocabSize()));
        } else if (input.isArray() && !input.isEmpty()) {
            for (int i = 0; i < input.size(); i++) {
                JsonNode item = input.get(i);
                if (item.isTextual()) {
                    inputs.add(tokenizer.encode(item.asText(), tokenizer.addBosByDefault(), true));
                } else if (item.isArray() && !item.isEmpty()) {
                    inputs.add(RequestParser.tokenIds(item, "input[" + i + "]", tokenizer.vocabSize()));
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
            if (n > options.slotContext()) {
                throw ApiException.invalid("input", "context_length_exceeded", "input " + i + " is " + n
                        + " tokens but a slot's context holds " + options.slotContext());
            }
            tokens += n;
        }
        Job.Embed job = new Job.Embed(inputs);
        scheduler.submit(job);
        float[][] vectors;
        try {
            vectors = job.result.get();
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof ApiException api) {
                throw api;
            }
            throw new IllegalStateException(e.getCause());
        }
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        for (int i = 0; i < vectors.length; i++) {
            ObjectNode item = data.addObject();
            item.put("object", "embedding");
            item.put("index", i);
            if (format.equals("base64")) {
                ByteBuffer bytes = ByteBuffer.allocate(4 * vectors[i].length).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : vectors[i]) {
                    bytes.putFloat(v);
                }
                item.put("embedding", Base64.getEncoder().encodeToString(bytes.array()));
            } else {
                ArrayNode values = item.putArray("embedding");
                for (float v : vectors[i]) {
                    values.add(v);
                }
            }
        }
        root.put("model", options.alias());
        root.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        return reply.json(200, root);
    }

    private int tokenize(Reply reply, JsonNode body) throws IOException {
        requireModel();
        Tokenizer tokenizer = model.tokenizer();
        JsonNode content = body.get("content");
        if (content == null || !content.isTextual()) {
            throw ApiException.invalid("content", "\"content\" must be a string");
        }
        boolean addSpecial = RequestParser.bool(body, "add_special", false);
        boolean parseSpecial = RequestParser.bool(body, "parse_special", true);
        boolean withPieces = RequestParser.bool(body, "with_pieces", false);
        int[] ids = tokenizer.encode(content.asText(), addSpecial && tokenizer.addBosByDefault(),
                addSpecial && tokenizer.addEosByDefault(), parseSpecial);
        ObjectNode root = Json.MAPPER.createObjectNode();
        ArrayNode tokens = root.putArray("tokens");
        for (int id : ids) {
            if (withPieces) {
                tokens.addObject().put("id", id)
                        .put("piece", new String(tokenizer.renderBytes(id), StandardCharsets.UTF_8));
            } else {
                tokens.add(id);
            }
        }
        return reply.json(200, root);
    }

    private int detokenize(Reply reply, JsonNode body) throws IOException {
        requireModel();
        Tokenizer tokenizer = model.tokenizer();
        JsonNode tokens = body.get("tokens");
        if (tokens == null || !tokens.isArray()) {
            throw ApiException.invalid("tokens", "\"tokens\" must be an array of token ids");
        }
        int[] ids = RequestParser.tokenIds(tokens, "tokens", tokenizer.vocabSize());
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("content", tokenizer.decode(ids));
        return reply.json(200, root);
    }

    // ---- responses ----

    /** One exchange's response: whole bodies, or a chunked body written piece by piece. */
    private static final class Reply {
        final HttpExchange exchange;
        boolean started;

        Reply(HttpExchange exchange) {
            this.exchange = exchange;
        }

        int send(int status, String contentType, byte[] body) throws IOException {
            exchange.getResponseHeaders().set("Content-Type", contentType);
            exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
            started = true;
            if (body.length > 0) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
            return status;
        }

        int json(int status, JsonNode body) throws IOException {
            return send(status, "application/json", Json.bytes(body));
        }

        /** Sends the headers of a chunked body. */
        void start(int status, String contentType) throws IOException {
            exchange.getResponseHeaders().set("Content-Type", contentType);
            exchange.sendResponseHeaders(status, 0);
            started = true;
        }

        void write(byte[] bytes) throws IOException {
            OutputStream out = exchange.getResponseBody();
            out.write(bytes);
            out.flush();
        }

        /** One server-sent event: {@code data: JSON} and a blank line. */
        void event(JsonNode data) throws IOException {
            byte[] body = Json.bytes(data);
            byte[] line = new byte[6 + body.length + 2];
            System.arraycopy("data: ".getBytes(StandardCharsets.US_ASCII), 0, line, 0, 6);
            System.arraycopy(body, 0, line, 6, body.length);
            line[line.length - 2] = '\n';
            line[line.length - 1] = '\n';
            write(line);
        }
    }

    private static StaticFile page(String name, String contentType) throws IOException {
        try (InputStream in = JllmServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) {
                throw new IllegalStateException("the web page's " + name + " is missing from the jar");
            }
            return new StaticFile(in.readAllBytes(), contentType);
        }
    }
}
