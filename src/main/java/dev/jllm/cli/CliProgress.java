package dev.jllm.cli;

import dev.jllm.hub.TransferListener;
import java.io.Console;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.time.Duration;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * Download progress on stderr: a progress bar (bytes, rate, time left) when stderr is a terminal, otherwise a plain
 * line every few seconds, so logs stay readable.
 */
final class CliProgress implements TransferListener {

    private static final long LINE_INTERVAL_NANOS = Duration.ofSeconds(5).toNanos();

    private final PrintStream err;
    private final boolean terminal;
    private ProgressBar bar;
    private long total;
    private long startBytes;
    private long startNanos;
    private long lastLineNanos;

    CliProgress(PrintStream err) {
        this(err, stderrIsTerminal());
    }

    CliProgress(PrintStream err, boolean terminal) {
        this.err = err;
        this.terminal = terminal;
    }

    @Override
    public void cached(String file, Path path) {
        err.println("jllm: " + file + " is in the cache: " + path);
    }

    @Override
    public void started(String file, long totalBytes, long resumedFrom) {
        total = totalBytes;
        startBytes = resumedFrom;
        startNanos = System.nanoTime();
        lastLineNanos = startNanos;
        if (terminal) {
            boolean large = totalBytes < 0 || totalBytes >= 10L << 20;
            bar = new ProgressBarBuilder()
                    .setTaskName(shortName(file))
                    .setInitialMax(totalBytes)
                    .setUnit(large ? " MiB" : " KiB", large ? 1 << 20 : 1 << 10)
                    .showSpeed(new DecimalFormat("0.0"))
                    .setUpdateIntervalMillis(250)
                    .startsFrom(resumedFrom, Duration.ZERO)
                    .setConsumer(new ConsoleProgressBarConsumer(err))
                    .build();
        } else {
            err.println("jllm: downloading " + file + (totalBytes >= 0 ? " (" + size(totalBytes) + ")" : "")
                    + (resumedFrom > 0 ? ", resuming at " + size(resumedFrom) : ""));
        }
    }

    @Override
    public void progress(String file, long bytes) {
        if (bar != null) {
            bar.stepTo(bytes);
            return;
        }
        long now = System.nanoTime();
        if (now - lastLineNanos >= LINE_INTERVAL_NANOS) {
            lastLineNanos = now;
            double seconds = (now - startNanos) / 1e9;
            double rate = (bytes - startBytes) / Math.max(seconds, 1e-3);
            StringBuilder line = new StringBuilder("jllm: ").append(file).append(": ").append(size(bytes));
            if (total > 0) {
                line.append(" of ").append(size(total)).append(String.format(" (%.0f%%)", 100.0 * bytes / total));
            }
            line.append(", ").append(size((long) rate)).append("/s");
            if (total > 0 && rate > 0) {
                line.append(", ").append(duration((total - bytes) / rate)).append(" left");
            }
            err.println(line);
        }
    }

    @Override
    public void retrying(String what, String reason, int nextAttempt, int maxAttempts, Duration wait) {
        if (bar != null) {
            err.println();
        }
        err.printf("jllm: %s: %s; trying again in %s (attempt %d of %d)%n", what, reason, duration(wait.toMillis() / 1e3),
                nextAttempt, maxAttempts);
    }

    @Override
    public void finished(String file, long bytes, String checksum, Path path) {
        if (bar != null) {
            bar.stepTo(bytes);
            bar.close();
            bar = null;
        }
        err.println("jllm: " + file + ": " + size(bytes) + ", " + (checksum != null ? checksum : "size") + " verified: " + path);
    }

    private static String shortName(String file) {
        String base = file.substring(file.lastIndexOf('/') + 1);
        return base.length() <= 32 ? base : base.substring(0, 14) + "..." + base.substring(base.length() - 15);
    }

    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format("%.1f %s", v, units[u]);
    }

    private static String duration(double seconds) {
        if (seconds < 10) {
            return String.format("%.1f s", seconds);
        }
        long s = Math.round(seconds);
        if (s < 60) {
            return s + " s";
        }
        if (s < 3600) {
            return s / 60 + " min " + s % 60 + " s";
        }
        return s / 3600 + " h " + s % 3600 / 60 + " min";
    }

    /** Whether file descriptor 2 is a terminal (Linux: where /proc/self/fd/2 points; elsewhere: the console). */
    static boolean stderrIsTerminal() {
        Path fd = Path.of("/proc/self/fd/2");
        try {
            if (Files.isSymbolicLink(fd)) {
                String target = Files.readSymbolicLink(fd).toString();
                return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
            }
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            // fall back to the console
        }
        Console console = System.console();
        return console != null && console.isTerminal();
    }
}
