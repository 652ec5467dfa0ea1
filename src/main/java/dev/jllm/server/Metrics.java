package dev.jllm.server;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/** The server's counters and gauges, rendered in Prometheus' text format for {@code GET /metrics}. */
final class Metrics {

    private static final long WINDOW_NANOS = 10_000_000_000L;

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    final LongAdder promptTokens = new LongAdder();
    final LongAdder cachedPromptTokens = new LongAdder();
    final LongAdder generatedTokens = new LongAdder();
    final LongAdder steps = new LongAdder();
    final LongAdder stepTokens = new LongAdder();
    final LongAdder rejected = new LongAdder();
    final LongAdder cancelled = new LongAdder();

    /** (time, generated tokens so far) at recent steps, for the rate over the last ten seconds. */
    private final long[] sampleTimes = new long[256];
    private final long[] sampleCounts = new long[256];
    private int sampleNext;
    private int sampleSize;

    private IntSupplier queueDepth = () -> 0;
    private IntSupplier busySlots = () -> 0;
    private IntSupplier slots = () -> 0;
    private IntSupplier ready = () -> 0;

    void gauges(IntSupplier queueDepth, IntSupplier busySlots, IntSupplier slots, IntSupplier ready) {
        this.queueDepth = queueDepth;
        this.busySlots = busySlots;
        this.slots = slots;
        this.ready = ready;
    }

    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    /** Called by the scheduler after each step. */
    synchronized void sampleRate(long nanos) {
        sampleTimes[sampleNext] = nanos;
        sampleCounts[sampleNext] = generatedTokens.sum();
        sampleNext = (sampleNext + 1) % sampleTimes.length;
        sampleSize = Math.min(sampleSize + 1, sampleTimes.length);
    }

    /** Generated tokens per second over the last ten seconds (0 when nothing was generated in that time). */
    synchronized double tokensPerSecond(long now) {
        if (sampleSize < 2) {
            return 0;
        }
        int newest = (sampleNext - 1 + sampleTimes.length) % sampleTimes.length;
        if (now - sampleTimes[newest] > WINDOW_NANOS) {
            return 0;
        }
        int oldest = newest;
        for (int i = 1; i < sampleSize; i++) {
            int j = (newest - i + sampleTimes.length) % sampleTimes.length;
            if (now - sampleTimes[j] > WINDOW_NANOS) {
                break;
            }
            oldest = j;
        }
        long span = sampleTimes[newest] - sampleTimes[oldest];
        return span <= 0 ? 0 : (sampleCounts[newest] - sampleCounts[oldest]) * 1e9 / span;
    }

    String render() {
        StringBuilder out = new StringBuilder();
        out.append("# HELP jllm_requests_total HTTP requests answered, by endpoint and status.\n");
        out.append("# TYPE jllm_requests_total counter\n");
        Map<String, Long> sorted = new TreeMap<>();
        requests.forEach((k, v) -> sorted.put(k, v.sum()));
        sorted.forEach((k, v) -> {
            String[] parts = k.split("\u0000");
            out.append("jllm_requests_total{endpoint=\"").append(parts[0]).append("\",status=\"").append(parts[1])
                    .append("\"} ").append(v).append('\n');
        });
        counter(out, "jllm_prompt_tokens_total", "Prompt tokens run through the model (cached ones not included).",
                promptTokens.sum());
        counter(out, "jllm_prompt_tokens_cached_total", "Prompt tokens reused from a slot's cache.",
                cachedPromptTokens.sum());
        counter(out, "jllm_generated_tokens_total", "Tokens generated.", generatedTokens.sum());
        counter(out, "jllm_steps_total", "Forward passes run by the scheduler.", steps.sum());
        counter(out, "jllm_step_tokens_total", "Tokens in those forward passes.", stepTokens.sum());
        counter(out, "jllm_requests_rejected_total", "Requests refused with 503 because the queue was full.",
                rejected.sum());
        counter(out, "jllm_requests_cancelled_total", "Requests whose client went away before they finished.",
                cancelled.sum());
        gauge(out, "jllm_generation_tokens_per_second", "Tokens generated per second over the last ten seconds.",
                String.format(java.util.Locale.ROOT, "%.3f", tokensPerSecond(System.nanoTime())));
        gauge(out, "jllm_queue_depth", "Requests waiting for a slot.", Integer.toString(queueDepth.getAsInt()));
        gauge(out, "jllm_busy_slots", "Slots running a request.", Integer.toString(busySlots.getAsInt()));
        gauge(out, "jllm_slots", "Slots (--parallel).", Integer.toString(slots.getAsInt()));
        gauge(out, "jllm_ready", "1 once the model is loaded and warmed up.", Integer.toString(ready.getAsInt()));
        return out.toString();
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n");
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, String value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n");
        out.append(name).append(' ').append(value).append('\n');
    }
}
