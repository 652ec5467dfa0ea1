package dev.jllm.server;

import dev.jllm.engine.Model;
import dev.jllm.engine.StopStrings;
import dev.jllm.model.Batch;
import dev.jllm.model.KvCache;
import dev.jllm.sampling.Sampler;
import dev.jllm.sampling.SamplerOptions;
import dev.jllm.sampling.TokenLogprobs;
import dev.jllm.tokenizer.TokenStreamDecoder;
import dev.jllm.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching: one thread owns the model and a KV cache of {@code parallel} sequences (slots). Each step
 * gathers the next token of every decoding slot and a chunk of any prompt being prefilled into one batch, runs the
 * forward pass once, samples per slot and hands the text to the requests' event queues. Requests join between steps
 * and leave as soon as they finish or their client goes away. While any slot decodes, prompts advance by at most
 * {@code prefillChunk} tokens per step, so running streams never stall for a whole prompt.
 *
 * <p>A request goes to the idle slot holding the longest prefix of its prompt (least recently used on ties) and
 * computes only the rest. The forward pass is batch invariant (a token's logits do not depend on its batch), so a
 * request gets the same tokens whatever runs beside it and whatever its slot had cached.
 */
final class Scheduler {

    /** How the scheduler is set up. */
    record Settings(int parallel, int slotContext, int batchSize, int prefillChunk, int maxQueue,
            KvCache.Type cacheType, int stepDelayMillis) {
    }

    private final Model model;
    private final Tokenizer tokenizer;
    private final Settings settings;
    private final Metrics metrics;
    private final PrintStream log;
    private final int vocab;
    private final Slot[] slots;
    private KvCache cache;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition workArrived = lock.newCondition();
    /** Jobs waiting for a slot, in arrival order. Guarded by {@link #lock}. */
    private final ArrayDeque<Job> pending = new ArrayDeque<>();
    /** Idle slots as of the scheduler's last look; submissions are admitted beyond the queue limit up to this. */
    private volatile int idleSlots;
    private volatile int busySlots;
    private volatile boolean ready;
    private volatile boolean stopping;
    private volatile long deadlineNanos;
    private volatile Throwable failure;
    private final CountDownLatch finished = new CountDownLatch(1);
    private Thread thread;
    private long step;

    Scheduler(Model model, Settings settings, Metrics metrics, PrintStream log) {
        this.model = model;
        this.tokenizer = model.tokenizer();
        this.settings = settings;
        this.metrics = metrics;
        this.log = log;
        this.vocab = model.config().vocabSize();
        this.slots = new Slot[settings.parallel()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new Slot(i, settings.slotContext());
        }
        this.idleSlots = slots.length;
        metrics.gauges(this::queueDepth, () -> busySlots, () -> slots.length, () -> ready ? 1 : 0);
    }

    Settings settings() {
        return settings;
    }

    boolean ready() {
        return ready;
    }

    int queueDepth() {
        lock.lock();
        try {
            return Math.max(0, pending.size() - idleSlots);
        } finally {
            lock.unlock();
        }
    }

    int busySlots() {
        return busySlots;
    }

    /** Allocates the cache and starts the scheduler thread, which warms the model up and then serves. */
    void start() {
        cache = model.newKvCache(slots.length, settings.slotContext(), settings.cacheType());
        thread = Thread.ofPlatform().name("jllm-scheduler").start(this::run);
    }

    /** Waits until the model is warmed up (or the scheduler failed); false on timeout. */
    boolean awaitReady(long timeout, TimeUnit unit) throws InterruptedException {
        long end = System.nanoTime() + unit.toNanos(timeout);
        while (!ready && failure == null && finished.getCount() > 0) {
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(5);
        }
        if (failure != null) {
            throw new IllegalStateException("the scheduler failed: " + failure.getMessage(), failure);
        }
        return ready;
    }

    /** Queues a job; 503 when the server is not ready, is shutting down, or the queue is full. */
    void submit(Job job) {
        lock.lock();
        try {
            if (stopping) {
                throw ApiException.unavailable("shutting_down", "the server is shutting down", 0);
            }
            if (!ready) {
                throw ApiException.unavailable("loading", "the model is loading", 2);
            }
            if (pending.size() >= idleSlots + settings.maxQueue()) {
                metrics.rejected.increment();
                throw ApiException.unavailable("queue_full", "the server is busy: all " + slots.length
                        + " slots are in use and " + Math.max(0, pending.size() - idleSlots)
                        + " requests are waiting (--max-queue " + settings.maxQueue() + "); retry later", 1);
            }
            pending.add(job);
            workArrived.signal();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops taking requests: waiting ones get 503 now, running ones may finish until {@code graceMillis} from now,
     * then are cancelled (their clients get 503). Returns at once; {@link #awaitStopped} waits for the end.
     */
    void shutdown(long graceMillis) {
        List<Job> rejected;
        lock.lock();
        try {
            if (stopping) {
                return;
            }
            deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
            stopping = true;
            rejected = new ArrayList<>(pending);
            pending.clear();
            workArrived.signal();
        } finally {
            lock.unlock();
        }
        for (Job job : rejected) {
            fail(job, ApiException.unavailable("shutting_down", "the server is shutting down", 0));
        }
        if (thread == null) {
            finished.countDown();
        }
    }

    boolean awaitStopped(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    private void run() {
        try {
            warmUp();
            ready = true;
            while (true) {
                lock.lock();
                try {
                    while (pending.isEmpty() && active() == 0 && !stopping) {
                        workArrived.await();
                    }
                    if (stopping && pending.isEmpty() && active() == 0) {
                        break;
                    }
                    admit();
                } finally {
                    lock.unlock();
                }
                if (stopping && System.nanoTime() > deadlineNanos) {
                    cancelAll(ApiException.unavailable("shutting_down",
                            "the server is shutting down; the request was cancelled", 0));
                }
                dropCancelled();
                if (active() > 0) {
                    step();
                    if (settings.stepDelayMillis() > 0) {
                        Thread.sleep(settings.stepDelayMillis());
                    }
                }
                publish();
            }
        } catch (Throwable t) {
            failure = t;
            log.println("jllm serve: the scheduler failed: " + t);
            t.printStackTrace(log);
            cancelAll(new ApiException(500, ApiException.SERVER_ERROR, null, "internal_error",
                    "the scheduler failed: " + t.getMessage(), 0));
            lock.lock();
            try {
                stopping = true;
                for (Job job : pending) {
                    fail(job, ApiException.unavailable("shutting_down", "the scheduler failed", 0));
                }
                pending.clear();
            } finally {
                lock.unlock();
            }
        } finally {
            busySlots = 0;
            finished.countDown();
        }
    }

    private int active() {
        int n = 0;
        for (Slot s : slots) {
            if (!s.idle()) {
                n++;
            }
        }
        return n;
    }

    private void publish() {
        int busy = active();
        busySlots = busy;
        idleSlots = slots.length - busy;
    }

    // ---- warm-up ----

    /**
     * Runs a prefill-sized batch, decode-sized batches of every slot and single-token steps, so that the JIT has
     * compiled the kernels before the first request; then forgets what they cached.
     */
    private void warmUp() {
        long t0 = System.nanoTime();
        int context = settings.slotContext();
        int prompt = Math.max(1, Math.min(64, context - 9));
        int[] tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) {
            tokens[i] = i == 0 && tokenizer.bosId() >= 0 ? tokenizer.bosId() : (17 + 31 * i) % vocab;
        }
        float[] logits = model.forward(Batch.ofSequence(0, tokens, 0, false), cache);
        new Sampler(new SamplerOptions(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 1)).sample(logits, 0, vocab, tokens, prompt);
        for (int round = 0; round < 4 && prompt + round < context; round++) {
            int n = slots.length;
            int[] t = new int[n];
            int[] pos = new int[n];
            int[] seq = new int[n];
            boolean[] want = new boolean[n];
            for (int s = 0; s < n; s++) {
                t[s] = (101 + 7 * s + round) % vocab;
                pos[s] = s == 0 ? prompt + round : round;
                seq[s] = s;
                want[s] = true;
            }
            model.forward(new Batch(t, pos, seq, want), cache);
        }
        for (int round = 0; round < 4 && prompt + 4 + round < context; round++) {
            model.forward(Batch.ofSequence(0, new int[] {(211 + round) % vocab}, prompt + 4 + round, true), cache);
        }
        for (Slot s : slots) {
            s.cached = 0;
        }
        log.printf("jllm serve: warmed up in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    // ---- admission ----

    /** Moves waiting jobs into idle slots, in arrival order. Called with the lock held. */
    private void admit() {
        while (!pending.isEmpty()) {
            Job job = pending.peek();
            if (job.cancelled()) {
                pending.poll();
                metrics.cancelled.increment();
                continue;
            }
            Slot slot = chooseSlot(job);
            if (slot == null) {
                return;
            }
            pending.poll();
            switch (job) {
                case Job.Generate g -> startGeneration(slot, g);
                case Job.Embed e -> startEmbedding(slot, e);
            }
        }
        publish();
    }

    /** The idle slot with the longest cached prefix of the job's prompt (least recently used on ties), or null. */
    private Slot chooseSlot(Job job) {
        Slot best = null;
        int bestCommon = -1;
        for (Slot s : slots) {
            if (!s.idle()) {
                continue;
            }
            int common = job instanceof Job.Generate g ? s.commonPrefix(g.spec.prompt()) : 0;
            if (common > bestCommon || (common == bestCommon && s.releasedAt < best.releasedAt)) {
                best = s;
                bestCommon = common;
            }
        }
        return best;
    }

    private void startGeneration(Slot slot, Job.Generate job) {
        int[] prompt = job.spec.prompt();
        int common = slot.commonPrefix(prompt);
        if (common == prompt.length) {
            common--; // the last prompt token runs again: its logits give the first token
        }
        for (int i = common; i < prompt.length; i++) {
            slot.setToken(i, prompt[i]);
        }
        slot.cached = common;
        slot.promptLength = prompt.length;
        slot.reusedTokens = common;
        slot.sampler = new Sampler(job.spec.sampler());
        slot.decoder = new TokenStreamDecoder(tokenizer, prompt[prompt.length - 1]);
        slot.stops = new StopStrings(job.spec.stops());
        slot.generated = 0;
        slot.producedChars = 0;
        slot.shownChars = 0;
        slot.pendingLogprobs.clear();
        slot.job = job;
        slot.state = Slot.State.PREFILL;
        metrics.cachedPromptTokens.add(common);
    }

    private void startEmbedding(Slot slot, Job.Embed job) {
        slot.job = job;
        slot.state = Slot.State.EMBED;
        slot.input = 0;
        slot.cached = 0;
        slot.poolSum = new double[model.config().dim()];
        slot.embeddings = new float[job.inputs.size()][];
    }

    // ---- cancellation ----

    private void dropCancelled() {
        for (Slot s : slots) {
            if (!s.idle() && s.job.cancelled()) {
                metrics.cancelled.increment();
                s.release(step);
            }
        }
    }

    private void cancelAll(ApiException why) {
        for (Slot s : slots) {
            if (!s.idle()) {
                fail(s.job, why);
                s.release(step);
            }
        }
    }

    private static void fail(Job job, ApiException why) {
        switch (job) {
            case Job.Generate g -> g.emit(new Job.Failed(why));
            case Job.Embed e -> e.result.completeExceptionally(why);
        }
    }

    // ---- one step ----

    private record Entry(Slot slot, int count, boolean wantsLogits) {
    }

    private void step() {
        step++;
        List<Entry> entries = new ArrayList<>();
        int decoding = 0;
        for (Slot s : slots) {
            if (s.state == Slot.State.DECODE) {
                entries.add(new Entry(s, 1, true));
                decoding++;
            }
        }
        int budget = Math.max(0, settings.batchSize() - decoding);
        if (decoding > 0) {
            budget = Math.min(budget, settings.prefillChunk());
        }
        List<Slot> prefilling = new ArrayList<>();
        for (Slot s : slots) {
            if (s.state == Slot.State.PREFILL) {
                prefilling.add(s);
            }
        }
        prefilling.sort(Comparator.comparingLong(s -> s.job.sequence));
        for (Slot s : prefilling) {
            int take = Math.min(s.promptLength - s.cached, budget);
            if (take <= 0) {
                break;
            }
            entries.add(new Entry(s, take, s.cached + take == s.promptLength));
            budget -= take;
        }
        if (!entries.isEmpty()) {
            runBatch(entries);
        }
        for (Slot s : slots) {
            if (s.state == Slot.State.EMBED) {
                embedStep(s);
            }
        }
        metrics.steps.increment();
        metrics.sampleRate(System.nanoTime());
    }

    private void runBatch(List<Entry> entries) {
        int n = 0;
        for (Entry e : entries) {
            n += e.count;
        }
        int[] tokens = new int[n];
        int[] positions = new int[n];
        int[] sequences = new int[n];
        boolean[] want = new boolean[n];
        int i = 0;
        for (Entry e : entries) {
            Slot s = e.slot;
            for (int k = 0; k < e.count; k++, i++) {
                boolean decode = s.state == Slot.State.DECODE;
                tokens[i] = decode ? s.pendingToken : s.tokens[s.cached + k];
                positions[i] = s.cached + k;
                sequences[i] = s.index;
                want[i] = e.wantsLogits && k == e.count - 1;
            }
        }
        float[] logits = model.forward(new Batch(tokens, positions, sequences, want), cache);
        metrics.stepTokens.add(n);
        int row = 0;
        for (Entry e : entries) {
            Slot s = e.slot;
            if (s.state == Slot.State.DECODE) {
                s.setToken(s.cached, s.pendingToken);
                s.cached++;
            } else {
                s.cached += e.count;
                metrics.promptTokens.add(e.count);
            }
            if (e.wantsLogits) {
                afterLogits(s, logits, row * vocab);
                row++;
            }
        }
    }

    /** Samples the slot's next token from its logits and decides whether the generation goes on. */
    private void afterLogits(Slot s, float[] logits, int offset) {
        Job.Generate job = (Job.Generate) s.job;
        Job.Spec spec = job.spec;
        if (job.cancelled()) {
            metrics.cancelled.increment();
            s.release(step);
            return;
        }
        int next = s.sampler.sample(logits, offset, vocab, s.tokens, s.cached);
        if (!spec.ignoreEos() && (tokenizer.isEndOfGeneration(next) || next == spec.endOfTurnToken())) {
            finish(s, Job.FinishReason.STOP);
            return;
        }
        s.generated++;
        metrics.generatedTokens.increment();
        String piece = s.decoder.accept(next);
        long start = s.producedChars;
        s.producedChars += piece.length();
        if (spec.topLogprobs() >= 0) {
            s.pendingLogprobs.add(new Slot.PendingLogprobs(
                    TokenLogprobs.of(logits, offset, vocab, next, spec.topLogprobs()), start, s.producedChars));
        }
        String shown = s.stops.accept(piece);
        if (s.stops.stopped()) {
            show(s, shown, true);
            done(s, Job.FinishReason.STOP);
            return;
        }
        show(s, shown, false);
        if (s.cached >= s.contextSize || (spec.maxTokens() >= 0 && s.generated >= spec.maxTokens())) {
            finish(s, Job.FinishReason.LENGTH);
            return;
        }
        s.pendingToken = next;
        s.state = Slot.State.DECODE;
    }

    /** Ends a generation that did not stop on a stop string: the held-back text is shown first. */
    private void finish(Slot s, Job.FinishReason reason) {
        String shown = s.stops.accept(s.decoder.flush());
        if (s.stops.stopped()) {
            reason = Job.FinishReason.STOP;
        } else {
            shown += s.stops.flush();
        }
        show(s, shown, true);
        done(s, reason);
    }

    /**
     * Sends shown text with the log-probabilities of the tokens whose text it completes; at the end, also of the token
     * a stop string cut through (tokens wholly inside the stop string are not reported).
     */
    private void show(Slot s, String text, boolean last) {
        s.shownChars += text.length();
        List<TokenLogprobs> released = List.of();
        while (!s.pendingLogprobs.isEmpty()) {
            Slot.PendingLogprobs p = s.pendingLogprobs.peek();
            boolean whole = p.textEnd() <= s.shownChars;
            boolean cut = last && (!s.stops.stopped() || p.textStart() < s.shownChars);
            if (!whole && !cut) {
                break;
            }
            if (released.isEmpty()) {
                released = new ArrayList<>();
            }
            released.add(s.pendingLogprobs.poll().logprobs());
        }
        if (!text.isEmpty() || !released.isEmpty()) {
            ((Job.Generate) s.job).emit(new Job.Delta(text, released));
        }
    }

    private void done(Slot s, Job.FinishReason reason) {
        Job.Generate job = (Job.Generate) s.job;
        job.emit(new Job.Done(reason, new Job.Usage(s.promptLength, s.generated, s.reusedTokens)));
        s.release(step);
    }

    // ---- embeddings ----

    /** Runs the next chunk of the slot's current input; pools, normalizes and moves on when the input is done. */
    private void embedStep(Slot s) {
        Job.Embed job = (Job.Embed) s.job;
        int[] input = job.inputs.get(s.input);
        int take = Math.min(input.length - s.cached, settings.batchSize());
        int[] chunk = Arrays.copyOfRange(input, s.cached, s.cached + take);
        float[] hidden = model.forwardHidden(Batch.ofSequence(s.index, chunk, s.cached, true), cache);
        metrics.stepTokens.add(take);
        metrics.promptTokens.add(take);
        int dim = model.config().dim();
        for (int t = 0; t < take; t++) {
            s.setToken(s.cached + t, chunk[t]);
            for (int i = 0; i < dim; i++) {
                s.poolSum[i] += hidden[t * dim + i];
            }
        }
        s.cached += take;
        if (s.cached < input.length) {
            return;
        }
        s.embeddings[s.input] = meanNormalized(s.poolSum, input.length);
        s.input++;
        if (s.input < job.inputs.size()) {
            s.cached = 0;
            Arrays.fill(s.poolSum, 0);
            return;
        }
        float[][] result = s.embeddings;
        s.release(step);
        job.result.complete(result);
    }

    /** The mean of {@code count} summed vectors, scaled to unit Euclidean length (llama.cpp's mean pooling). */
    static float[] meanNormalized(double[] sum, int count) {
        float[] mean = new float[sum.length];
        for (int i = 0; i < sum.length; i++) {
            mean[i] = (float) (sum[i] / count);
        }
        double norm = 0;
        for (float v : mean) {
            norm += (double) v * v;
        }
        norm = Math.sqrt(norm);
        float scale = norm > 0 ? (float) (1.0 / norm) : 0f;
        for (int i = 0; i < mean.length; i++) {
            mean[i] *= scale;
        }
        return mean;
    }
}
