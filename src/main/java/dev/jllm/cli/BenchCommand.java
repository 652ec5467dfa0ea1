package dev.jllm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.sampling.Sampler;
import dev.jllm.tensor.Parallel;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Prompt-processing and generation speed, measured as llama.cpp's {@code llama-bench} measures it, with its output
 * (a Markdown table, or JSON with its field names) so tools that read one read the other.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Measure prompt processing (pp) and generation (tg) speed, like llama-bench.")
final class BenchCommand extends IoCommand implements Runnable {

    enum Output { md, json, csv }

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-p", "--n-prompt"}, paramLabel = "N", split = ",", defaultValue = "512",
            description = "Prompt lengths to test (comma-separated; 0 skips). Default ${DEFAULT-VALUE}.")
    int[] prompts;

    @Option(names = {"-n", "--n-gen"}, paramLabel = "N", split = ",", defaultValue = "128",
            description = "Generation lengths to test (comma-separated; 0 skips). Default ${DEFAULT-VALUE}.")
    int[] gens;

    @Option(names = {"-r", "--repetitions"}, paramLabel = "N", defaultValue = "5",
            description = "Repetitions of each test. Default ${DEFAULT-VALUE}.")
    int repetitions;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", defaultValue = "md",
            description = "md (table), json or csv (llama-bench's fields and quoting). Default ${DEFAULT-VALUE}.")
    Output output;

    @Option(names = "--no-warmup", description = "Skip the unmeasured warm-up repetition of each test.")
    boolean noWarmup;

    /** What the time to first token covers after loading: the first test's first (cold) run. */
    private String ttftRun = "";

    private record Result(String test, int nPrompt, int nGen, int threads, long[] samplesNs) {
        double[] tokensPerSecond() {
            double[] ts = new double[samplesNs.length];
            for (int i = 0; i < ts.length; i++) {
                ts[i] = (nPrompt + nGen) * 1e9 / samplesNs[i];
            }
            return ts;
        }
    }

    @Override
    public void run() {
        if (repetitions < 1) {
            throw new UserInputException("-r must be at least 1, got " + repetitions);
        }
        for (int p : prompts) {
            if (p < 0) {
                throw new UserInputException("-p must not be negative, got " + p);
            }
        }
        for (int n : gens) {
            if (n < 0) {
                throw new UserInputException("-n must not be negative, got " + n);
            }
        }
        int[] threadCounts = modelOptions.threads;
        if (threadCounts != null) {
            for (int t : threadCounts) {
                if (t < 1) {
                    throw new UserInputException("-t must be at least 1, got " + t);
                }
            }
        }
        long started = System.nanoTime();
        try (Model model = modelOptions.open()) {
            model.startWarmUp();
            int needed = 1;
            for (int p : prompts) {
                needed = Math.max(needed, p);
            }
            for (int n : gens) {
                needed = Math.max(needed, n + 1);
            }
            int ctx = modelOptions.contextSize == null ? needed : modelOptions.contextSize(model, err);
            if (ctx < needed) {
                throw new UserInputException("--ctx-size " + ctx + " is smaller than the longest test (" + needed + " tokens)");
            }
            Session session = model.newSession(SessionOptions.defaults(ctx).withCacheType(modelOptions.cacheType()));
            List<Result> results = new ArrayList<>();
            double[] ttftMs = {Double.NaN};
            model.awaitWarmUp(); // before the thread pool changes
            // As llama-bench: every combination, thread counts outermost, prompt tests before generation tests.
            for (int t : threadCounts != null ? threadCounts : new int[] {Parallel.get().threads()}) {
                ModelOptions.useThreads(t, err);
                for (int p : prompts) {
                    if (p > 0) {
                        results.add(measure(model, session, "pp" + p, p, 0, started, ttftMs));
                    }
                }
                for (int n : gens) {
                    if (n > 0) {
                        results.add(measure(model, session, "tg" + n, 0, n, started, ttftMs));
                    }
                }
            }
            long peakRss = peakResidentBytes();
            switch (output) {
                case json -> out.println(json(model, results, peakRss, ttftMs[0], ctx));
                case csv -> csv(model, results, peakRss, ttftMs[0], ctx);
                case md -> table(model, results, peakRss, ttftMs[0]);
            }
        }
    }

    private Result measure(Model model, Session session, String name, int nPrompt, int nGen, long started,
            double[] ttftMs) {
        int vocab = model.config().vocabSize();
        SplittableRandom random = new SplittableRandom(42);
        int[] prompt = new int[nPrompt];
        for (int i = 0; i < nPrompt; i++) {
            prompt[i] = random.nextInt(vocab);
        }
        int first = bosOrZero(model);
        long[] samples = new long[repetitions];
        // One unmeasured repetition first (unless --no-warmup): it also lets the JIT compile the hot loops.
        for (int r = noWarmup ? 0 : -1; r < repetitions; r++) {
            session.reset();
            long t0 = System.nanoTime();
            if (nPrompt > 0) {
                session.append(prompt);
            } else {
                float[] logits = session.append(first);
                for (int i = 0; i < nGen - 1; i++) {
                    int next = Sampler.argmax(logits, 0, vocab);
                    if (Double.isNaN(ttftMs[0])) {
                        ttftMs[0] = (System.nanoTime() - started) / 1e6 + jvmStartupMs(started);
                        ttftRun = "one token (the BOS of " + name + ")";
                    }
                    logits = session.append(next);
                }
            }
            if (r >= 0) {
                samples[r] = System.nanoTime() - t0;
            }
            if (nPrompt > 0 && Double.isNaN(ttftMs[0])) {
                ttftMs[0] = (System.nanoTime() - started) / 1e6 + jvmStartupMs(started);
                ttftRun = "a " + nPrompt + "-token prompt (" + name + ")";
            }
        }
        return new Result(name, nPrompt, nGen, Parallel.get().threads(), samples);
    }

    /** Milliseconds from the JVM's start to {@code started} (the command's start), so time to first token includes start-up. */
    private static double jvmStartupMs(long started) {
        long jvmStartMs = ManagementFactory.getRuntimeMXBean().getStartTime();
        double commandStartMs = System.currentTimeMillis() - (System.nanoTime() - started) / 1e6;
        return Math.max(0, commandStartMs - jvmStartMs);
    }

    private static int bosOrZero(Model model) {
        try {
            int bos = model.tokenizer().bosId();
            return bos >= 0 ? bos : 0;
        } catch (RuntimeException e) {
            return 0; // no usable tokenizer: any token id will do for timing
        }
    }

    private static long peakResidentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.trim().split("\\s+");
                    return Long.parseLong(parts[1]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: unknown
        }
        return -1;
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    private static double stddev(double[] v) {
        if (v.length < 2) {
            return 0;
        }
        double m = mean(v);
        double s = 0;
        for (double x : v) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    private static long modelBytes(Model model) {
        long total = 0;
        for (Tensor t : model.file().tensors().values()) {
            total += t.byteSize();
        }
        return total;
    }

    private static long parameterCount(Model model) {
        long total = 0;
        for (Tensor t : model.file().tensors().values()) {
            total += t.elementCount();
        }
        return total;
    }

    /** llama.cpp's model description, e.g. {@code llama 1B Q4_0}: size class and the type of most weights. */
    static String modelType(Model model) {
        long params = parameterCount(model);
        String size;
        if (params >= 1_000_000_000L) {
            size = Math.round(params / 1e9) + "B";
        } else if (params >= 1_000_000L) {
            size = Math.round(params / 1e6) + "M";
        } else {
            size = Math.round(params / 1e3) + "K";
        }
        Map<String, Long> bytesByType = new LinkedHashMap<>();
        for (Tensor t : model.file().tensors().values()) {
            bytesByType.merge(t.type().name(), t.elementCount(), Long::sum);
        }
        String type = bytesByType.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse("?");
        return "llama " + size + " " + type;
    }

    private void table(Model model, List<Result> results, long peakRss, double ttftMs) {
        String modelType = modelType(model);
        String size = String.format(Locale.ROOT, "%.2f MiB", modelBytes(model) / 1048576.0);
        String params = String.format(Locale.ROOT, "%.2f %s", parameterCount(model) >= 1e9 ? parameterCount(model) / 1e9
                : parameterCount(model) / 1e6, parameterCount(model) >= 1e9 ? "B" : "M");
        out.println("| model                          |       size |     params | backend    | threads |          test |                  t/s |");
        out.println("| ------------------------------ | ---------: | ---------: | ---------- | ------: | ------------: | -------------------: |");
        for (Result r : results) {
            double[] ts = r.tokensPerSecond();
            out.printf(Locale.ROOT, "| %-30s | %10s | %10s | %-10s | %7d | %13s | %20s |%n", modelType, size, params,
                    "CPU (Java)", r.threads(), r.test(),
                    String.format(Locale.ROOT, "%.2f ± %.2f", mean(ts), stddev(ts)));
        }
        out.println();
        out.printf(Locale.ROOT, "peak resident memory: %.1f MiB; time to first token: %.0f ms (from JVM start, launcher"
                + " script not included: loading, then %s, cold)%n", peakRss / 1048576.0, ttftMs, ttftRun);
    }

    /** llama-bench's CSV: a header of field names, then one row per test with every value in double quotes. */
    private void csv(Model model, List<Result> results, long peakRss, double ttftMs, int ctx) {
        ArrayNode rows = records(model, results, peakRss, ttftMs, ctx);
        List<String> fields = new ArrayList<>();
        rows.get(0).fieldNames().forEachRemaining(f -> {
            if (!rows.get(0).get(f).isArray()) {
                fields.add(f);
            }
        });
        out.println(String.join(",", fields));
        for (var row : rows) {
            List<String> values = new ArrayList<>();
            for (String f : fields) {
                var v = row.get(f);
                String text = v.isBoolean() ? (v.asBoolean() ? "1" : "0")
                        : v.isFloatingPointNumber() ? String.format(Locale.ROOT, "%.6f", v.asDouble()) : v.asText();
                values.add("\"" + text.replace("\"", "\"\"") + "\"");
            }
            out.println(String.join(",", values));
        }
    }

    private String json(Model model, List<Result> results, long peakRss, double ttftMs, int ctx) {
        ObjectMapper mapper = new ObjectMapper();
        try {
            return mapper.writerWithDefaultPrettyPrinter().writeValueAsString(records(model, results, peakRss, ttftMs, ctx));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One object per test with llama-bench's JSON fields (and jllm's peak_rss_bytes, ttft_ms). */
    private ArrayNode records(Model model, List<Result> results, long peakRss, double ttftMs, int ctx) {
        ObjectMapper mapper = new ObjectMapper();
        ArrayNode array = mapper.createArrayNode();
        for (Result r : results) {
            double[] ts = r.tokensPerSecond();
            double[] ns = new double[r.samplesNs().length];
            for (int i = 0; i < ns.length; i++) {
                ns[i] = r.samplesNs()[i];
            }
            ObjectNode o = array.addObject();
            o.put("build_commit", "jllm-0.1.0");
            o.put("cpu_info", System.getProperty("os.arch"));
            o.put("backends", "CPU (Java Vector API)");
            o.put("model_filename", model.file().path().toString());
            o.put("model_type", modelType(model));
            o.put("model_size", modelBytes(model));
            o.put("model_n_params", parameterCount(model));
            o.put("n_batch", Math.max(r.nPrompt(), 1));
            o.put("n_ubatch", Math.max(r.nPrompt(), 1));
            o.put("n_ctx", ctx);
            o.put("n_threads", r.threads());
            o.put("type_k", modelOptions.cacheType().name().toLowerCase(Locale.ROOT));
            o.put("type_v", modelOptions.cacheType().name().toLowerCase(Locale.ROOT));
            o.put("use_mmap", true);
            o.put("n_prompt", r.nPrompt());
            o.put("n_gen", r.nGen());
            o.put("test_time", Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString());
            o.put("avg_ns", (long) mean(ns));
            o.put("stddev_ns", (long) stddev(ns));
            o.put("avg_ts", mean(ts));
            o.put("stddev_ts", stddev(ts));
            ArrayNode samplesNs = o.putArray("samples_ns");
            for (long s : r.samplesNs()) {
                samplesNs.add(s);
            }
            ArrayNode samplesTs = o.putArray("samples_ts");
            for (double t : ts) {
                samplesTs.add(t);
            }
            o.put("peak_rss_bytes", peakRss);
            o.put("ttft_ms", ttftMs);
        }
        return array;
    }
}
