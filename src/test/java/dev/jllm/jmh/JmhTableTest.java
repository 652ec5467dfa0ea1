package dev.jllm.jmh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runner's arithmetic against figures worked out by hand: bytes of a 5632 x 2048 matrix per type (ggml's block
 * sizes), GB/s = bytes ÷ time, GFLOP/s = 2 · rows · cols · batch ÷ time, the ratio to the probe with the same number
 * of threads, the units JMH reports, and the table's order and layout.
 */
class JmhTableTest {

    private static Map<String, String> product(String kernel, int batch, int threads) {
        return Map.of("kernel", kernel, "batch", Integer.toString(batch), "threads", Integer.toString(threads),
                "rows", "5632", "cols", "2048", "footprintMiB", "256");
    }

    @Test
    void bytesPerProductFollowTheBlockLayouts() {
        // 5632 * 2048 = 11,534,336 values = 360,448 blocks of 32
        assertEquals(46_137_344L, JmhTable.bytesPerOp("MatVecBenchmark", product("F32", 1, 1)));
        assertEquals(23_068_672L, JmhTable.bytesPerOp("MatVecBenchmark", product("BF16", 1, 1)));
        assertEquals(360_448L * 34, JmhTable.bytesPerOp("MatVecBenchmark", product("Q8_0", 1, 1)));
        assertEquals(360_448L * 18, JmhTable.bytesPerOp("RowDotBenchmark", product("Q4_0", 1, 1)));
        assertEquals(360_448L * 24, JmhTable.bytesPerOp("MatVecBenchmark", product("Q5_1", 1, 1)));
        assertEquals(1L << 30, JmhTable.bytesPerOp("MemoryBandwidthBenchmark", Map.of("threads", "1", "sizeMiB", "1024")));
    }

    @Test
    void tableGivesBandwidthFlopsAndRatioToTheProbe() {
        List<JmhTable.Measurement> results = List.of(
                new JmhTable.Measurement("MatVecBenchmark", product("Q8_0", 32, 2), 10, 0.02, "ms/op"),
                new JmhTable.Measurement("MatVecBenchmark", product("Q4_0", 1, 1), 500, 5, "us/op"),
                new JmhTable.Measurement("MemoryBandwidthBenchmark", Map.of("threads", "1", "sizeMiB", "1024"), 50_000,
                        100, "us/op"),
                new JmhTable.Measurement("MappedBandwidthBenchmark", Map.of("threads", "1", "sizeMiB", "1024",
                        "file", ""), 0.1, 0.001, "s/op"));
        List<JmhTable.Row> rows = JmhTable.rows(results);
        // probe: 2^30 B / 0.05 s = 21.47483648 GB/s; Q4_0: 6,488,064 B / 500 µs = 12.976128 GB/s, 60.42% of it
        JmhTable.Row q8 = rows.get(2); // probes first, then types in the order F32 F16 BF16 Q8_0 Q4_0 ...
        assertEquals("Q8_0", q8.type());
        assertEquals("Q4_0", rows.get(3).type());
        assertEquals(12.976128, rows.get(3).gbPerSecond(), 1e-9);
        assertEquals(46.137344, rows.get(3).gflops(), 1e-9);
        assertEquals(12.976128 / 21.47483648, rows.get(3).ratio(), 1e-12);
        // Q8_0 batch 32: 12,255,232 B / 10 ms; 2 * 5632 * 2048 * 32 / 10 ms = 73.82 GFLOP/s; no 2-thread probe
        assertEquals(1.2255232, q8.gbPerSecond(), 1e-9);
        assertEquals(73.8197504, q8.gflops(), 1e-9);
        assertEquals(
                """
                | benchmark | type | batch | threads | µs/op | GB/s | GFLOP/s | of bandwidth |
                |---|---|---|---|---|---|---|---|
                | read sum, off-heap | - | - | 1 | 50000 ± 100 | 21.5 | - | - |
                | read sum, mapped file | - | - | 1 | 100000 ± 1000 | 10.7 | - | 50% |
                | MatMul.apply | Q8_0 | 32 | 2 | 10000 ± 20.0 | 1.2 | 73.8 | - |
                | MatMul.apply | Q4_0 | 1 | 1 | 500 ± 5.00 | 13.0 | 46.1 | 60% |
                """, JmhTable.format(rows));
    }

    /** A record of JMH 1.37's {@code -rf json} output (from a run here, trimmed), and one whose error is "NaN". */
    @Test
    void readsJmhJsonResults(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("result.json");
        Files.writeString(file, """
                [
                  {"jmhVersion": "1.37", "benchmark": "dev.jllm.jmh.MemoryBandwidthBenchmark.readSum", "mode": "avgt",
                   "threads": 1, "forks": 1, "params": {"sizeMiB": "1024", "threads": "1"},
                   "primaryMetric": {"score": 49024.493714285716, "scoreError": 1567.5432091433424,
                     "scoreConfidence": [47456.95050514238, 50592.036923429056], "scoreUnit": "us/op",
                     "rawData": [[49000.0, 49100.0]]},
                   "secondaryMetrics": {}},
                  {"jmhVersion": "1.37", "benchmark": "dev.jllm.jmh.MatVecBenchmark.product", "mode": "avgt",
                   "params": {"batch": "1", "cols": "2048", "footprintMiB": "256", "kernel": "Q4_0", "rows": "5632",
                     "threads": "1"},
                   "primaryMetric": {"score": 1000.0, "scoreError": "NaN", "scoreUnit": "us/op"}}
                ]
                """);
        List<JmhTable.Measurement> m = JmhMain.readJson(file);
        assertEquals(new JmhTable.Measurement("MemoryBandwidthBenchmark", Map.of("sizeMiB", "1024", "threads", "1"),
                49024.493714285716, 1567.5432091433424, "us/op"), m.get(0));
        assertEquals("MatVecBenchmark", m.get(1).benchmark());
        assertEquals("Q4_0", m.get(1).params().get("kernel"));
        assertTrue(Double.isNaN(m.get(1).error()));
        assertEquals("| MatMul.apply | Q4_0 | 1 | 1 | 1000 ± ? | 6.5 | 23.1 | 30% |",
                JmhTable.format(JmhTable.rows(m)).lines().toList().get(3));
    }

    @Test
    void severalRunsGiveTheMedianAndTheRange() {
        List<JmhTable.Measurement> results = List.of(
                new JmhTable.Measurement("MemoryBandwidthBenchmark", Map.of("threads", "2", "sizeMiB", "1024"), 40, 1,
                        "ms/op"),
                new JmhTable.Measurement("MatVecBenchmark", product("F32", 1, 2), 3000, 100, "us/op"),
                new JmhTable.Measurement("MemoryBandwidthBenchmark", Map.of("sizeMiB", "1024", "threads", "2"), 50, 1,
                        "ms/op"),
                new JmhTable.Measurement("MatVecBenchmark", product("F32", 1, 2), 2000, 100, "us/op"),
                new JmhTable.Measurement("MatVecBenchmark", product("F32", 1, 2), 9000, 100, "us/op"),
                new JmhTable.Measurement("MatVecBenchmark", product("F32", 1, 2), 2500, 100, "us/op"));
        List<JmhTable.Row> rows = JmhTable.rows(results);
        assertEquals(2, rows.size());
        // probe: median of 40 and 50 ms = 45 ms, 2^30 B / 45 ms = 23.86 GB/s; F32: median of 2000, 2500, 3000, 9000 µs
        // = 2750 µs, 46,137,344 B / 2750 µs = 16.777 GB/s = 70.3% of the probe
        assertEquals(45_000, rows.get(0).microsPerOp(), 1e-9);
        assertEquals(2750, rows.get(1).microsPerOp(), 1e-9);
        assertEquals(46_137_344 / 2750e-6 / (Math.pow(2, 30) / 45e-3), rows.get(1).ratio(), 1e-12);
        assertEquals(List.of(
                "| read sum, off-heap | - | - | 2 | 45000 (40000–50000, 2 runs) | 23.9 | - | - |",
                "| MatMul.apply | F32 | 1 | 2 | 2750 (2000–9000, 4 runs) | 16.8 | 8.4 | 70% |"),
                JmhTable.format(rows).lines().skip(2).toList());
    }

    @Test
    void throughputUnitsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> JmhTable.micros("ops/s"));
        assertEquals(1e-3, JmhTable.micros("ns/op"));
    }
}
