package dev.jllm.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Locale;
import java.util.function.LongFunction;

/**
 * A response body read under the limits a server cannot be trusted to keep: at most {@code maxBytes} bytes (one more
 * is an error, never retried), a whole-answer deadline (for listings, which are small), and a minimum rate: when fewer
 * than {@code minBytesPerSecond} × {@code window} bytes arrive within a window, the body is closed and the read fails
 * with an {@link HttpTimeoutException}, which is retried. A server that stops sending is cut after one window; one that
 * drips a byte now and then, after one window too, whatever the read timeout of each read.
 */
final class GuardedBody extends InputStream {

    private final InputStream in;
    private final long maxBytes;
    private final LongFunction<HubException> tooLarge;
    private final long deadlineNanos;
    private final long windowNanos;
    private final long minBytesPerWindow;
    private final Thread watchdog;
    private volatile long count;
    private volatile String fired;
    private volatile boolean closed;

    /**
     * @param maxBytes          the most bytes the body may have; {@code tooLarge} makes the error for the first byte
     *                          past it (given the limit)
     * @param deadline          the whole body must have arrived within this, from now; null for no deadline
     * @param window            the window of the minimum rate
     * @param minBytesPerSecond the minimum rate; 0 for none
     */
    GuardedBody(InputStream in, long maxBytes, LongFunction<HubException> tooLarge, Duration deadline, Duration window,
                long minBytesPerSecond) {
        this.in = in;
        this.maxBytes = maxBytes;
        this.tooLarge = tooLarge;
        long now = System.nanoTime();
        this.deadlineNanos = deadline == null ? Long.MAX_VALUE : now + deadline.toNanos();
        this.windowNanos = Math.max(1, window.toNanos());
        this.minBytesPerWindow = Math.max(1, (long) Math.ceil(minBytesPerSecond * (window.toNanos() / 1e9)));
        Duration tick = Duration.ofMillis(Math.max(10, Math.min(250, window.toMillis() / 4)));
        this.watchdog = Thread.ofVirtual().name("jllm-hub-watchdog").start(() -> watch(tick, deadline, window,
                minBytesPerSecond));
    }

    private void watch(Duration tick, Duration deadline, Duration window, long minBytesPerSecond) {
        long windowStart = System.nanoTime();
        long bytesAtWindowStart = 0;
        while (!closed) {
            try {
                Thread.sleep(tick);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            String reason = null;
            if (now - deadlineNanos >= 0) {
                reason = "the answer took longer than " + seconds(deadline);
            } else if (minBytesPerSecond > 0 && now - windowStart >= windowNanos) {
                long got = count - bytesAtWindowStart;
                if (got < minBytesPerWindow) {
                    reason = got == 0 ? "no data for " + seconds(window)
                            : String.format(Locale.ROOT, "%d bytes in %s, below the minimum of %d bytes/s", got,
                                    seconds(window), minBytesPerSecond);
                }
                windowStart = now;
                bytesAtWindowStart = count;
            }
            if (reason != null && !closed) {
                fired = reason;
                try {
                    in.close(); // unblocks a read waiting for bytes
                } catch (IOException ignored) {
                    // closing is all that can be done
                }
                return;
            }
        }
    }

    private static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1e3);
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (fired != null) {
            throw new HttpTimeoutException(fired);
        }
        int n;
        try {
            // one byte more than allowed, at most, so a body one byte too long is seen as such
            n = in.read(b, off, (int) Math.min(len, Math.max(1, maxBytes - count + 1)));
        } catch (IOException e) {
            if (fired != null) {
                throw new HttpTimeoutException(fired);
            }
            throw e;
        }
        if (n > 0) {
            count += n;
            if (count > maxBytes) {
                close();
                throw tooLarge.apply(maxBytes);
            }
        }
        return n;
    }

    long count() {
        return count;
    }

    @Override
    public void close() throws IOException {
        closed = true;
        watchdog.interrupt();
        in.close();
    }
}
