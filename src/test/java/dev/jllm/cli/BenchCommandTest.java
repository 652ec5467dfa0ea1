package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code jllm bench} against llama.cpp's {@code llama-bench} on the same file and settings: its output as llama-bench
 * wrote it is kept in {@code src/test/resources/dev/jllm/cli/llama-bench/} (made with
 * {@code ../shared/peers/llama.cpp/run llama-bench -m models/stories260K-q8_0-mixed.gguf -p 8 -n 4 -r 2 -t 1 -o
 * json|md|csv}, run in ../shared). The fields jllm shares with it have its types and, where they describe the model
 * and the test rather than the machine, its values; the timings agree with each other; jllm's own two,
 * {@code peak_rss_bytes} and {@code ttft_ms}, lie between what this process measures before and after the run.
 */
class BenchCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] ARGS = {"bench", "-p", "8", "-n", "4", "-r", "2", "-t", "1"};

    /** Fields that describe the model file and the test asked for: llama-bench's values, exactly. */
    private static final List<String> SAME_VALUES = List.of("model_size", "model_n_params", "n_threads", "n_prompt",
            "n_gen", "type_k", "type_v", "use_mmap");

    private static String model() {
        return SharedData.model("stories260K-q8_0-mixed.gguf").toString();
    }

    private static String reference(String extension) {
        try (InputStream in = BenchCommandTest.class.getResourceAsStream(
                "llama-bench/stories260K-q8_0-mixed." + extension)) {
            if (in == null) {
                throw new AssertionError("llama-bench's output is missing from the test resources: " + extension);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static CliTest.Result bench(String format) {
        String[] args = CommandLineHabitsTest.concat(ARGS, "-m", model(), "-o", format);
        CliTest.Result r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        return r;
    }

    @Test
    void jsonHasLlamaBenchsFieldsTypesAndValues() throws IOException {
        long rssBefore = procStatus("VmRSS:");
        long uptimeBefore = sinceJvmStart();
        CliTest.Result r = bench("json");
        long uptimeAfter = sinceJvmStart();
        long peakAfter = procStatus("VmHWM:");

        JsonNode mine = JSON.readTree(r.out());
        JsonNode theirs = JSON.readTree(reference("json"));
        assertEquals(theirs.size(), mine.size(), "one object per test: pp8, tg4");
        for (int t = 0; t < mine.size(); t++) {
            JsonNode m = mine.get(t);
            JsonNode l = theirs.get(t);
            int shared = 0;
            for (Iterator<String> names = l.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!m.has(name)) {
                    continue;
                }
                shared++;
                assertEquals(kind(l.get(name)), kind(m.get(name)), name + " has llama-bench's JSON type");
                if (SAME_VALUES.contains(name)) {
                    assertEquals(l.get(name), m.get(name), name + " is llama-bench's value");
                }
            }
            for (String documented : List.of("n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts", "samples_ts",
                    "samples_ns", "avg_ns", "model_type", "model_size", "model_n_params", "test_time")) {
                assertTrue(m.has(documented), documented);
            }
            assertTrue(shared >= 20, "fields shared with llama-bench: " + shared);

            // The timings agree with each other: t/s of each sample is tokens / its time; the averages are means.
            JsonNode ns = m.get("samples_ns");
            JsonNode ts = m.get("samples_ts");
            assertEquals(2, ns.size());
            assertEquals(2, ts.size());
            int tokens = m.get("n_prompt").asInt() + m.get("n_gen").asInt();
            double meanNs = 0;
            double meanTs = 0;
            for (int k = 0; k < 2; k++) {
                assertTrue(ns.get(k).asLong() > 0);
                assertEquals(tokens * 1e9 / ns.get(k).asLong(), ts.get(k).asDouble(), 1e-9 * ts.get(k).asDouble());
                meanNs += ns.get(k).asLong() / 2.0;
                meanTs += ts.get(k).asDouble() / 2.0;
            }
            assertEquals(meanNs, m.get("avg_ns").asDouble(), 1.0);
            assertEquals(meanTs, m.get("avg_ts").asDouble(), 1e-9 * meanTs);

            // Peak resident memory: the process's high-water mark, read by the command during the run.
            long peak = m.get("peak_rss_bytes").asLong();
            assertTrue(peak >= rssBefore && peak <= peakAfter,
                    "peak_rss_bytes " + peak + " between the RSS before (" + rssBefore + ") and the peak after (" + peakAfter + ")");
            // Time to first token counts from the JVM's start: this process's uptime before and after the run.
            double ttft = m.get("ttft_ms").asDouble();
            assertTrue(ttft >= uptimeBefore - 50 && ttft <= uptimeAfter + 50,
                    "ttft_ms " + ttft + " within the run, " + uptimeBefore + ".." + uptimeAfter + " ms after the JVM started");
        }
        assertEquals(List.of(8, 0, 0, 4), List.of(mine.get(0).get("n_prompt").asInt(), mine.get(0).get("n_gen").asInt(),
                mine.get(1).get("n_prompt").asInt(), mine.get(1).get("n_gen").asInt()), "n_prompt and n_gen as asked");
    }

    @Test
    void tableIsLlamaBenchsTable() {
        List<String> mine = bench("md").out().lines().toList();
        List<String> theirs = reference("md").lines().toList();
        assertEquals(theirs.subList(0, 2), mine.subList(0, 2), "the header and the alignment row");
        for (int row = 2; row < 4; row++) {
            String[] m = cells(mine.get(row));
            String[] l = cells(theirs.get(row));
            assertEquals(l.length, m.length, mine.get(row));
            assertEquals(mine.get(row).length(), theirs.get(row).length(), "column widths: " + mine.get(row));
            for (int c : new int[] {2, 3, 5, 6}) { // size, params, threads, test
                assertEquals(l[c], m[c], "column " + c + " of " + mine.get(row));
            }
            assertTrue(m[7].matches("\\d+\\.\\d\\d ± \\d+\\.\\d\\d"), m[7]);
        }
        assertEquals("", mine.get(4));
        assertTrue(mine.get(5).matches("peak resident memory: \\d+\\.\\d MiB; time to first token: \\d+ ms .*"),
                mine.get(5));
    }

    @Test
    void csvHasLlamaBenchsColumnsInItsOrder() {
        List<String> mine = bench("csv").out().lines().toList();
        List<String> theirs = reference("csv").lines().toList();
        assertEquals(theirs.size(), mine.size());
        List<String> myHeader = List.of(mine.getFirst().split(","));
        List<String> shared = new ArrayList<>();
        for (String column : theirs.getFirst().split(",")) {
            if (myHeader.contains(column)) {
                shared.add(column);
            }
        }
        assertTrue(shared.size() >= 20, shared.toString());
        List<String> myOrder = myHeader.stream().filter(shared::contains).toList();
        assertEquals(shared, myOrder, "the columns shared with llama-bench, in its order");
        for (int row = 1; row < mine.size(); row++) {
            List<String> m = List.of(mine.get(row).split(","));
            List<String> l = List.of(theirs.get(row).split(","));
            assertEquals(myHeader.size(), m.size(), mine.get(row));
            for (String column : SAME_VALUES) {
                if (shared.contains(column)) {
                    String expected = l.get(List.of(theirs.getFirst().split(",")).indexOf(column));
                    assertEquals(expected, m.get(myHeader.indexOf(column)), column);
                }
            }
        }
    }

    /**
     * Milliseconds since the JVM started, on the clock bench uses for ttft_ms (the wall clock against the JVM's start
     * time; the MXBean's uptime runs on another clock, and the two drift apart by tens of ms in a long test run).
     */
    private static long sinceJvmStart() {
        return System.currentTimeMillis() - ManagementFactory.getRuntimeMXBean().getStartTime();
    }

    private static String kind(JsonNode n) {
        return n.isArray() ? "array" : n.isBoolean() ? "boolean" : n.isNumber() ? "number" : n.isTextual() ? "string"
                : n.getNodeType().toString();
    }

    private static String[] cells(String row) {
        String[] raw = row.split("\\|", -1);
        String[] cells = new String[raw.length];
        for (int i = 0; i < raw.length; i++) {
            cells[i] = raw[i].strip();
        }
        return cells;
    }

    /** A {@code /proc/self/status} field in bytes. */
    private static long procStatus(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field)) {
                return Long.parseLong(line.substring(field.length()).strip().split("\\s+")[0]) * 1024;
            }
        }
        throw new AssertionError(field + " not in /proc/self/status");
    }
}
