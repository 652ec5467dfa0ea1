package dev.jllm.jmh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs the kernel benchmarks and the bandwidth probe with JMH (any JMH command-line option works: a regex to choose
 * benchmarks, {@code -p kernel=Q4_0,Q8_0}, {@code -p batch=1}, {@code -p threads=2}, {@code -f}, {@code -i}, ...),
 * then prints the table of {@link JmhTable}. The off-heap bandwidth probe is added to every run (for the ratio
 * column) unless {@code --no-probe} is given. Started by {@code bench/jmh.sh}.
 */
public final class JmhMain {

    private static final String PACKAGE = "dev\\.jllm\\.jmh\\.";

    private JmhMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--table")) {
            List<JmhTable.Measurement> measurements = new ArrayList<>();
            for (int i = 1; i < args.length; i++) {
                measurements.addAll(readJson(Path.of(args[i])));
            }
            System.out.print(JmhTable.format(JmhTable.rows(measurements)));
            return;
        }
        boolean probe = true;
        List<String> jmhArgs = new ArrayList<>();
        for (String a : args) {
            if (a.equals("--no-probe")) {
                probe = false;
            } else {
                jmhArgs.add(a);
            }
        }
        CommandLineOptions cmd = new CommandLineOptions(jmhArgs.toArray(String[]::new));
        if (cmd.shouldHelp()) {
            System.out.println("bench/jmh.sh [--no-probe] [JMH options] [benchmark regex ...]");
            System.out.println("  benchmarks: MatVecBenchmark (kernel, batch, threads, rows, cols, footprintMiB),");
            System.out.println("  RowDotBenchmark (kernel), MemoryBandwidthBenchmark (threads, sizeMiB),");
            System.out.println("  MappedBandwidthBenchmark (threads, sizeMiB, file); e.g. -p kernel=Q4_0 -p batch=1");
            System.out.println("  --no-probe: do not add the off-heap bandwidth probe (the ratio column stays empty)");
            System.out.println("bench/jmh.sh --table RESULT.json ...: the table from JMH JSON results (-rf json -rff F)");
            System.out.println("  of one or more runs, e.g. the probe and the kernels run separately");
            System.out.println();
            cmd.showHelp();
            return;
        }
        if (cmd.shouldList() || cmd.shouldListWithParams() || cmd.shouldListProfilers() || cmd.shouldListResultFormats()) {
            new Runner(cmd).list();
            return;
        }
        ChainedOptionsBuilder options = new OptionsBuilder().parent(cmd);
        if (cmd.getIncludes().isEmpty()) {
            options.include(PACKAGE);
        } else if (probe) {
            options.include(PACKAGE + "MemoryBandwidthBenchmark\\.");
        }
        String before = loadAverage();
        Collection<RunResult> results = new Runner(options.build()).run();
        String after = loadAverage();
        List<JmhTable.Measurement> measurements = new ArrayList<>();
        for (RunResult r : results) {
            BenchmarkParams p = r.getParams();
            Map<String, String> params = new TreeMap<>();
            for (String key : p.getParamsKeys()) {
                params.put(key, p.getParam(key));
            }
            String name = p.getBenchmark();
            String[] parts = name.split("\\.");
            Result<?> primary = r.getPrimaryResult();
            measurements.add(new JmhTable.Measurement(parts[parts.length - 2], params, primary.getScore(),
                    primary.getScoreError(), primary.getScoreUnit()));
        }
        System.out.println();
        System.out.println("jllm kernels and memory bandwidth (GB = 1e9 bytes; load average before: " + before
                + ", after: " + after + ")");
        System.out.println();
        System.out.print(JmhTable.format(JmhTable.rows(measurements)));
    }

    /** The measurements in a JMH JSON result file ({@code -rf json}). */
    static List<JmhTable.Measurement> readJson(Path file) throws IOException {
        List<JmhTable.Measurement> out = new ArrayList<>();
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        for (JsonNode run : root) {
            String[] parts = run.path("benchmark").asText().split("\\.");
            Map<String, String> params = new TreeMap<>();
            run.path("params").properties().forEach(e -> params.put(e.getKey(), e.getValue().asText()));
            JsonNode metric = run.path("primaryMetric");
            double error = metric.path("scoreError").isNumber() ? metric.path("scoreError").asDouble() : Double.NaN;
            out.add(new JmhTable.Measurement(parts[parts.length - 2], params, metric.path("score").asDouble(), error,
                    metric.path("scoreUnit").asText()));
        }
        return out;
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }
}
