package dev.jllm.jmh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

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
                | benchmark | type | batch | threads | µs/op (± 99.9%) | GB/s | GFLOP/s | of bandwidth |
                |---|---|---|---|---|---|---|---|
                | read sum, off-heap | - | - | 1 | 50000 ± 100 | 21.5 | - | - |
                | read sum, mapped file | - | - | 1 | 100000 ± 1000 | 10.7 | - | 50% |
                | MatMul.apply | Q8_0 | 32 | 2 | 10000 ± 20.0 | 1.2 | 73.8 | - |
                | MatMul.apply | Q4_0 | 1 | 1 | 500 ± 5.00 | 13.0 | 46.1 | 60% |
                """, JmhTable.format(rows));
    }

    @Test
    void throughputUnitsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> JmhTable.micros("ops/s"));
        assertEquals(1e-3, JmhTable.micros("ns/op"));
    }
}
