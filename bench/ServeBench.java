// Load generator for an OpenAI-compatible server (jllm serve, llama-server): CLIENTS concurrent clients each send
// REQUESTS streaming completions of MAX_TOKENS tokens (ignore_eos, greedy, a distinct prompt per request) and time
// them. Prints one JSON line: aggregate generated tokens/s (all tokens / wall time from the first request to the last
// token), time to first token and inter-token latency (median and p95 over every request / every token gap).
//
//   java bench/ServeBench.java run URL CLIENTS REQUESTS MAX_TOKENS LABEL >> results.jsonl
//   java bench/ServeBench.java summary results.jsonl      (medians per label and client count, as a Markdown table)
//
// Single-file program for the JDK's source launcher; no dependencies.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class ServeBench {

    private static final String[] WORDS = {"river", "lamp", "garden", "winter", "stone", "music", "paper", "forest",
        "window", "silver", "harbor", "candle", "meadow", "bridge", "thunder", "orchard"};

    record Request(double ttftMs, List<Double> gapsMs, int tokens, long endNanos) {
    }

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.ROOT);
        if (args.length == 2 && args[0].equals("summary")) {
            summary(Path.of(args[1]));
            return;
        }
        if (args.length != 6 || !args[0].equals("run")) {
            System.err.println("usage: ServeBench run URL CLIENTS REQUESTS MAX_TOKENS LABEL | summary FILE");
            System.exit(2);
        }
        String url = args[1];
        int clients = Integer.parseInt(args[2]);
        int requests = Integer.parseInt(args[3]);
        int maxTokens = Integer.parseInt(args[4]);
        String label = args[5];
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        List<Future<List<Request>>> futures = new ArrayList<>();
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newFixedThreadPool(clients)) {
            for (int c = 0; c < clients; c++) {
                int client = c;
                futures.add(pool.submit(() -> {
                    List<Request> done = new ArrayList<>();
                    for (int r = 0; r < requests; r++) {
                        done.add(one(http, url, prompt(client, r, start), maxTokens));
                    }
                    return done;
                }));
            }
        }
        List<Request> all = new ArrayList<>();
        for (Future<List<Request>> f : futures) {
            all.addAll(f.get());
        }
        long end = all.stream().mapToLong(Request::endNanos).max().orElse(start);
        int tokens = all.stream().mapToInt(Request::tokens).sum();
        double seconds = (end - start) / 1e9;
        List<Double> ttft = new ArrayList<>();
        List<Double> gaps = new ArrayList<>();
        for (Request r : all) {
            ttft.add(r.ttftMs());
            gaps.addAll(r.gapsMs());
        }
        System.out.printf("{\"label\": \"%s\", \"clients\": %d, \"requests\": %d, \"tokens\": %d, \"seconds\": %.3f,"
                + " \"tokens_per_s\": %.3f, \"ttft_median_ms\": %.1f, \"ttft_p95_ms\": %.1f, \"itl_median_ms\": %.1f,"
                + " \"itl_p95_ms\": %.1f}%n", label, clients, all.size(), tokens, seconds, tokens / seconds,
                percentile(ttft, 50), percentile(ttft, 95), percentile(gaps, 50), percentile(gaps, 95));
    }

    /** A prompt of about 25 tokens that no other request of the run shares beyond its first word. */
    private static String prompt(int client, int request, long salt) {
        StringBuilder b = new StringBuilder("Request " + (salt % 100_000) + "-" + client + "-" + request + ":");
        long x = salt + 7919L * client + 104729L * request;
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            b.append(' ').append(WORDS[(int) ((x >>> 33) % WORDS.length)]);
        }
        return b.toString();
    }

    private static final Pattern COMPLETION_TOKENS = Pattern.compile("\"completion_tokens\"\\s*:\\s*(\\d+)");

    private static Request one(HttpClient http, String url, String prompt, int maxTokens) throws Exception {
        String body = "{\"prompt\": \"" + prompt + "\", \"max_tokens\": " + maxTokens + ", \"temperature\": 0,"
                + " \"ignore_eos\": true, \"stream\": true, \"stream_options\": {\"include_usage\": true}}";
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofMinutes(10))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        long sent = System.nanoTime();
        HttpResponse<java.io.InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("HTTP " + response.statusCode() + ": "
                    + new String(response.body().readAllBytes(), StandardCharsets.UTF_8));
        }
        long first = -1;
        long last = -1;
        List<Double> gaps = new ArrayList<>();
        int chunks = 0;
        int usageTokens = -1;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                    continue;
                }
                Matcher usage = COMPLETION_TOKENS.matcher(line);
                if (usage.find()) {
                    usageTokens = Integer.parseInt(usage.group(1));
                }
                if (!line.contains("\"text\":\"") || line.contains("\"text\":\"\"")) {
                    continue; // no text in this chunk (the finish or usage chunk)
                }
                long now = System.nanoTime();
                if (first < 0) {
                    first = now;
                } else {
                    gaps.add((now - last) / 1e6);
                }
                last = now;
                chunks++;
            }
        }
        return new Request((first - sent) / 1e6, gaps, usageTokens >= 0 ? usageTokens : chunks, last);
    }

    private static double percentile(List<Double> values, double p) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int index = (int) Math.ceil(p / 100 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
    }

    /** The middle value, or the mean of the two middle ones. */
    private static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static final Pattern FIELD = Pattern.compile("\"(\\w+)\": (\"[^\"]*\"|[-0-9.eE]+|NaN)");

    /** Medians (and the range) of each measure per label and client count over the runs in FILE. */
    private static void summary(Path file) throws Exception {
        Map<String, Map<Integer, List<Map<String, String>>>> runs = new TreeMap<>();
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, String> fields = new TreeMap<>();
            Matcher m = FIELD.matcher(line);
            while (m.find()) {
                fields.put(m.group(1), m.group(2).replace("\"", ""));
            }
            runs.computeIfAbsent(fields.get("label"), k -> new TreeMap<>())
                    .computeIfAbsent(Integer.parseInt(fields.get("clients")), k -> new ArrayList<>()).add(fields);
        }
        System.out.println("| server | clients | runs | tokens/s (median, range) | TTFT median / p95 ms | ITL median / p95 ms |");
        System.out.println("|---|---|---|---|---|---|");
        runs.forEach((label, byClients) -> byClients.forEach((clients, list) -> {
            List<Double> rate = values(list, "tokens_per_s");
            System.out.printf("| %s | %d | %d | %.1f (%.1f-%.1f) | %.0f / %.0f | %.0f / %.0f |%n", label, clients,
                    list.size(), median(rate), Collections.min(rate), Collections.max(rate),
                    median(values(list, "ttft_median_ms")), median(values(list, "ttft_p95_ms")),
                    median(values(list, "itl_median_ms")), median(values(list, "itl_p95_ms")));
        }));
    }

    private static List<Double> values(List<Map<String, String>> runs, String field) {
        List<Double> out = new ArrayList<>();
        for (Map<String, String> r : runs) {
            out.add(Double.parseDouble(r.get(field)));
        }
        return out;
    }
}
