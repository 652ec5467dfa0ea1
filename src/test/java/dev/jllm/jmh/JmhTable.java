package dev.jllm.jmh;

import dev.jllm.tensor.GgmlType;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns the benchmarks' times into the figures that can be set against the machine: GB/s of weights streamed (bytes
 * of the weight matrix ÷ time per product), GFLOP/s (2 · rows · cols · batch ÷ time), and the ratio to the memory
 * bandwidth the {@link MemoryBandwidthBenchmark} probe measured with the same number of threads. GB = 10⁹ bytes.
 * Results of several runs (JSON files of separate runs) are merged into medians.
 */
final class JmhTable {

    /** One benchmark result: the benchmark class's simple name, its parameters, the score and its unit (time/op). */
    record Measurement(String benchmark, Map<String, String> params, double score, double error, String unit) {
    }

    /**
     * One line of the table: the time per op (the median over {@code runs} runs, with their range), JMH's error for a
     * single run (NaN otherwise); gflops and ratio are NaN where they do not apply (or no probe ran).
     */
    record Row(String benchmark, String type, String batch, int threads, double microsPerOp, double errorMicros,
            int runs, double minMicros, double maxMicros, double gbPerSecond, double gflops, double ratio) {
    }

    private static final List<String> TYPE_ORDER = List.of("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1");

    private JmhTable() {
    }

    /** Microseconds in one {@code unit} (JMH's time-per-op units). */
    static double micros(String unit) {
        return switch (unit) {
            case "ns/op" -> 1e-3;
            case "us/op", "µs/op" -> 1;
            case "ms/op" -> 1e3;
            case "s/op" -> 1e6;
            default -> throw new IllegalArgumentException("score unit " + unit + " (expected a time per op; run with "
                    + "the benchmarks' default mode, -bm avgt)");
        };
    }

    /** Bytes read by one op of this benchmark with these parameters. */
    static long bytesPerOp(String benchmark, Map<String, String> p) {
        return switch (benchmark) {
            case "MatVecBenchmark", "RowDotBenchmark" -> BenchWeights.matrixBytes(BenchWeights.typeOf(p.get("kernel")),
                    Integer.parseInt(p.get("rows")), Integer.parseInt(p.get("cols")));
            case "MemoryBandwidthBenchmark", "MappedBandwidthBenchmark" -> Long.parseLong(p.get("sizeMiB")) << 20;
            case "FmaCeilingBenchmark" -> 0;
            default -> throw new IllegalArgumentException("unknown benchmark " + benchmark);
        };
    }

    /**
     * The table's rows: measurements of the same benchmark and parameters (from several runs) become one row with the
     * median time and the range; a single run keeps JMH's 99.9% error.
     */
    static List<Row> rows(List<Measurement> measurements) {
        Map<String, List<Measurement>> groups = new LinkedHashMap<>();
        for (Measurement m : measurements) {
            groups.computeIfAbsent(m.benchmark() + new TreeMap<>(m.params()), k -> new ArrayList<>()).add(m);
        }
        List<Row> rows = new ArrayList<>();
        for (List<Measurement> group : groups.values()) {
            Measurement m = group.getFirst();
            double[] times = group.stream().mapToDouble(g -> g.score() * micros(g.unit())).sorted().toArray();
            int n = times.length;
            double us = n % 2 == 1 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
            double error = n == 1 ? m.error() * micros(m.unit()) : Double.NaN;
            double gbs = bytesPerOp(m.benchmark(), m.params()) / (us * 1e-6) / 1e9;
            Map<String, String> p = m.params();
            boolean product = p.containsKey("kernel");
            int batch = p.containsKey("batch") ? Integer.parseInt(p.get("batch")) : 1;
            double gflops = product ? 2.0 * Long.parseLong(p.get("rows")) * Long.parseLong(p.get("cols")) * batch
                    / (us * 1e-6) / 1e9 : Double.NaN;
            int threads = p.containsKey("threads") ? Integer.parseInt(p.get("threads")) : 1;
            if (m.benchmark().equals("FmaCeilingBenchmark")) {
                gflops = FmaCeilingBenchmark.flopsPerThread() * threads / (us * 1e-6) / 1e9;
            }
            rows.add(new Row(m.benchmark(), product ? p.get("kernel") : "-", product ? Integer.toString(batch) : "-",
                    threads, us, error, n, times[0], times[n - 1], gbs, gflops, Double.NaN));
        }
        List<Row> withRatio = new ArrayList<>();
        for (Row r : rows) {
            double limit = Double.NaN;
            for (Row probe : rows) {
                if (probe.benchmark().equals("MemoryBandwidthBenchmark") && probe.threads() == r.threads()) {
                    limit = probe.gbPerSecond();
                }
            }
            double ratio = r.benchmark().equals("MemoryBandwidthBenchmark") || r.benchmark().equals("FmaCeilingBenchmark")
                    ? Double.NaN : r.gbPerSecond() / limit;
            withRatio.add(new Row(r.benchmark(), r.type(), r.batch(), r.threads(), r.microsPerOp(), r.errorMicros(),
                    r.runs(), r.minMicros(), r.maxMicros(), r.gbPerSecond(), r.gflops(), ratio));
        }
        withRatio.sort(Comparator.comparingInt(JmhTable::benchmarkOrder)
                .thenComparingInt(r -> TYPE_ORDER.indexOf(r.type()))
                .thenComparing(r -> r.batch().equals("-") ? 0 : Integer.parseInt(r.batch()))
                .thenComparingInt(Row::threads));
        return withRatio;
    }

    private static int benchmarkOrder(Row r) {
        return List.of("MemoryBandwidthBenchmark", "MappedBandwidthBenchmark", "MatVecBenchmark", "RowDotBenchmark")
                .indexOf(r.benchmark());
    }

    private static String label(String benchmark) {
        return switch (benchmark) {
            case "MemoryBandwidthBenchmark" -> "read sum, off-heap";
            case "MappedBandwidthBenchmark" -> "read sum, mapped file";
            case "MatVecBenchmark" -> "MatMul.apply";
            case "RowDotBenchmark" -> "dotPrepared per row";
            case "FmaCeilingBenchmark" -> "float FMA ceiling (registers only)";
            default -> benchmark;
        };
    }

    /** The table in Markdown, ready for BENCHMARKS.md. */
    static String format(List<Row> rows) {
        StringBuilder s = new StringBuilder();
        s.append("| benchmark | type | batch | threads | µs/op | GB/s | GFLOP/s | of bandwidth |\n");
        s.append("|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            String time = r.runs() == 1 ? number(r.microsPerOp()) + " ± " + number(r.errorMicros())
                    : number(r.microsPerOp()) + " (" + number(r.minMicros()) + "–" + number(r.maxMicros()) + ", "
                            + r.runs() + " runs)";
            s.append(String.format(Locale.ROOT, "| %s | %s | %s | %d | %s | %.1f | %s | %s |%n", label(r.benchmark()),
                    r.type(), r.batch(), r.threads(), time,
                    r.gbPerSecond(), Double.isNaN(r.gflops()) ? "-" : String.format(Locale.ROOT, "%.1f", r.gflops()),
                    Double.isNaN(r.ratio()) ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * r.ratio())));
        }
        return s.toString().replace(System.lineSeparator(), "\n");
    }

    /** Three significant figures at most, no exponent. */
    private static String number(double v) {
        if (Double.isNaN(v)) {
            return "?";
        }
        if (v >= 100) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        if (v >= 10) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
