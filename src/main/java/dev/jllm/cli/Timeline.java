package dev.jllm.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Start-up phase timestamps for measuring time to first token: set {@code JLLM_TIMING=1} and the commands that mark
 * phases print them to stderr at the end, in milliseconds since the JVM started (the launcher script's own time is
 * before that). Costs nothing when the variable is not set.
 */
final class Timeline {

    static final boolean ENABLED = System.getenv("JLLM_TIMING") != null;

    private static final List<String> NAMES = new ArrayList<>();
    private static final List<Long> MILLIS = new ArrayList<>();

    private Timeline() {
    }

    static synchronized void mark(String phase) {
        if (ENABLED) {
            NAMES.add(phase);
            MILLIS.add(System.currentTimeMillis());
        }
    }

    static synchronized void print(PrintStream err) {
        if (!ENABLED || NAMES.isEmpty()) {
            return;
        }
        long jvmStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
        long previous = jvmStart;
        StringBuilder line = new StringBuilder("timing (ms since JVM start, +phase):");
        for (int i = 0; i < NAMES.size(); i++) {
            long t = MILLIS.get(i);
            line.append(String.format(" %s %d (+%d)", NAMES.get(i), t - jvmStart, t - previous));
            previous = t;
        }
        err.println(line);
    }
}
