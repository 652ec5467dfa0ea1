package dev.jllm.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One persistent pool of worker threads, sized once ({@code --threads}). {@link #forRange} splits
 * {@code [0, n)} into contiguous chunks, runs them on the workers and the calling thread, and returns when all are done.
 * No allocation per call beyond the caller's lambda.
 */
public final class Parallel {

    /** The body of a parallel loop: handles indices {@code [start, end)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    private static volatile Parallel instance;

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile RangeBody body;
    private volatile int total;
    private volatile int generation;
    private volatile Throwable failure;
    private volatile Thread caller;

    private Parallel(int threads) {
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int w = 0; w < workers.length; w++) {
            int index = w + 1;
            workers[w] = Thread.ofPlatform().daemon().name("jllm-worker-" + index).start(() -> workLoop(index));
        }
    }

    /** Sets the number of threads for all later work (call before the first computation). */
    public static synchronized void configure(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        Parallel old = instance;
        if (old != null && old.threads == threads) {
            return;
        }
        instance = new Parallel(threads);
        if (old != null) {
            old.shutdown();
        }
    }

    public static Parallel get() {
        Parallel p = instance;
        if (p == null) {
            synchronized (Parallel.class) {
                if (instance == null) {
                    instance = new Parallel(Runtime.getRuntime().availableProcessors());
                }
                p = instance;
            }
        }
        return p;
    }

    public int threads() {
        return threads;
    }

    /** Runs body over {@code [0, n)} split into one contiguous chunk per thread. */
    public static void forRange(int n, RangeBody body) {
        get().run(n, body);
    }

    private synchronized void run(int n, RangeBody task) {
        if (n <= 0) {
            return;
        }
        if (threads == 1 || n == 1) {
            task.run(0, n);
            return;
        }
        failure = null;
        body = task;
        total = n;
        caller = Thread.currentThread();
        pending.set(workers.length);
        generation++;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        Throwable own = null;
        try {
            runChunk(0, n, task);
        } catch (Throwable t) {
            own = t;
        }
        int spins = 0;
        while (pending.get() > 0) {
            if (++spins < 20_000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(50_000);
            }
        }
        body = null;
        Throwable t = own != null ? own : failure;
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
    }

    private void runChunk(int index, int n, RangeBody task) {
        int start = (int) ((long) n * index / threads);
        int end = (int) ((long) n * (index + 1) / threads);
        if (start < end) {
            task.run(start, end);
        }
    }

    private void workLoop(int index) {
        int seen = 0;
        while (true) {
            int spins = 0;
            while (generation == seen) {
                if (shutdown) {
                    return;
                }
                if (++spins < 20_000) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            seen = generation;
            RangeBody task = body;
            try {
                runChunk(index, total, task);
            } catch (Throwable t) {
                failure = t;
            } finally {
                if (pending.decrementAndGet() == 0) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    private volatile boolean shutdown;

    private void shutdown() {
        shutdown = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
