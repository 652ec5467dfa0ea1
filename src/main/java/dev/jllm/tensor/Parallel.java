package dev.jllm.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One persistent pool of worker threads, sized once ({@code --threads}). {@link #forRange} cuts {@code [0, n)} into
 * small chunks that the calling thread and the workers take from a shared counter, and returns when all are done.
 *
 * <p>Built for a shared machine. Whoever is running takes the next chunk, so a worker that the OS has descheduled (a
 * busy core, or more threads than cores) holds up at most the one small chunk it took, not a fixed share of every
 * product. Idle workers spin only briefly before parking, so they do not take CPU time from the threads doing the
 * work. Work too small to be worth waking anyone ({@link #forRange(int, long, RangeBody)}) runs on the caller alone.
 */
public final class Parallel {

    /** The body of a parallel loop: handles indices {@code [start, end)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    /** Chunks per thread: more chunks balance better, fewer cost less in claims. */
    private static final int CHUNKS_PER_THREAD = 4;
    /**
     * Estimated work (multiply-adds) below which a loop runs on the calling thread alone: waking a parked worker and
     * handing back the result costs some microseconds, in which one core does about this much.
     */
    static final long MIN_PARALLEL_WORK = 32_768;
    /** How long an idle worker, or a caller waiting for the last chunks, spins before it parks. */
    private static final long SPIN_NANOS = 50_000;

    private static volatile Parallel instance;

    private final int threads;
    private final Worker[] workers;
    private volatile Job current;

    /** One loop: its body and the counters the threads share. */
    private static final class Job {
        final RangeBody body;
        final int n;
        final int chunk;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger unfinished;
        final Thread caller;
        volatile Throwable failure;

        Job(RangeBody body, int n, int chunk, Thread caller) {
            this.body = body;
            this.n = n;
            this.chunk = chunk;
            this.chunks = (n + chunk - 1) / chunk;
            this.unfinished = new AtomicInteger(chunks);
            this.caller = caller;
        }

        /** Runs chunks until none is left; true if this thread finished the last one. */
        boolean work() {
            boolean last = false;
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                int start = c * chunk;
                try {
                    body.run(start, Math.min(n, start + chunk));
                } catch (Throwable t) {
                    failure = t;
                }
                last = unfinished.decrementAndGet() == 0;
            }
            return last;
        }
    }

    private final class Worker implements Runnable {
        final Thread thread;
        volatile boolean parked;
        volatile boolean shutdown;

        Worker(int index) {
            thread = Thread.ofPlatform().daemon().name("jllm-worker-" + index).unstarted(this);
        }

        @Override
        public void run() {
            Job seen = null;
            while (!shutdown) {
                Job job = current;
                if (job == null || job == seen) {
                    idle(seen);
                    continue;
                }
                seen = job;
                if (job.work()) {
                    LockSupport.unpark(job.caller);
                }
            }
        }

        /** Spins for a short while for a new job, then parks until one is published. */
        private void idle(Job seen) {
            long deadline = System.nanoTime() + SPIN_NANOS;
            while (current == seen || current == null) {
                if (shutdown) {
                    return;
                }
                if (System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                    continue;
                }
                parked = true;
                if (current == seen || current == null) {
                    LockSupport.park(Parallel.this);
                }
                parked = false;
            }
        }
    }

    private Parallel(int threads) {
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int w = 0; w < workers.length; w++) {
            workers[w] = new Worker(w + 1);
            workers[w].thread.start();
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

    /** The cores this process may use (the default thread count). */
    public static int availableCores() {
        return Runtime.getRuntime().availableProcessors();
    }

    public static Parallel get() {
        Parallel p = instance;
        if (p == null) {
            synchronized (Parallel.class) {
                if (instance == null) {
                    instance = new Parallel(availableCores());
                }
                p = instance;
            }
        }
        return p;
    }

    public int threads() {
        return threads;
    }

    /** Runs body over {@code [0, n)}, split across the pool. */
    public static void forRange(int n, RangeBody body) {
        get().run(n, Long.MAX_VALUE, body);
    }

    /**
     * Runs body over {@code [0, n)}, where each index costs about {@code workPerIndex} multiply-adds: split across at
     * most as many threads as the total work is worth, and run on the caller alone when it is small.
     */
    public static void forRange(int n, long workPerIndex, RangeBody body) {
        get().run(n, workPerIndex, body);
    }

    private synchronized void run(int n, long workPerIndex, RangeBody body) {
        if (n <= 0) {
            return;
        }
        long work = workPerIndex >= Long.MAX_VALUE / n ? Long.MAX_VALUE : workPerIndex * n;
        int useful = (int) Math.min(threads, Math.max(1, work / MIN_PARALLEL_WORK));
        if (useful == 1 || n == 1) {
            body.run(0, n);
            return;
        }
        int chunks = Math.min(n, useful * CHUNKS_PER_THREAD);
        Job job = new Job(body, n, (n + chunks - 1) / chunks, Thread.currentThread());
        current = job;
        for (Worker w : workers) {
            if (w.parked) {
                LockSupport.unpark(w.thread);
            }
        }
        job.work();
        long deadline = System.nanoTime() + SPIN_NANOS;
        while (job.unfinished.get() > 0) {
            if (System.nanoTime() < deadline) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 100_000);
            }
        }
        Throwable t = job.failure;
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    private void shutdown() {
        for (Worker w : workers) {
            w.shutdown = true;
            LockSupport.unpark(w.thread);
        }
    }
}
