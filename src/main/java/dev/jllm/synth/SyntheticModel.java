package dev.jllm.synth;

import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.quant.QuantMix;
import dev.jllm.quant.Quantizer;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A LLaMA model with random weights, written as GGUF: every matrix drawn from normal(0, 0.02) and stored as the chosen
 * {@link QuantMix} says (one type for all 2-D tensors, token embedding and output included, or the Q4_K_M mixture;
 * rows that are not whole blocks fall back as the mix says), RMSNorm weights 1 (F32), and for Llama 3.1-style shapes
 * the {@code rope_freqs} factors (F32). The metadata is what llama.cpp reads for architecture {@code llama}.
 *
 * <p>Generation is deterministic: the values depend only on the seed, the shape and the tensor's place, not on the
 * type or the number of threads (so an F32 and a Q4_0 file of the same seed hold the same weights, one quantized).
 * Matrices are generated and quantized in parallel chunks of rows and written in order.
 */
public final class SyntheticModel {

    /** Standard deviation of the weights. */
    public static final float STD = 0.02f;
    /** About this many values per chunk of work. */
    private static final int CHUNK_VALUES = 1 << 20;

    /** What to generate. */
    public record Options(ModelShape shape, QuantMix mix, Vocabulary vocabulary, long seed, int threads) {

        /** Every matrix in {@code type}. */
        public Options(ModelShape shape, GgmlType type, Vocabulary vocabulary, long seed, int threads) {
            this(shape, uniform(type), vocabulary, seed, threads);
        }

        private static QuantMix uniform(GgmlType type) {
            if (!Quantizer.SUPPORTED.contains(type)) {
                throw new IllegalArgumentException("type " + type.name() + " is not supported (expected one of "
                        + Quantizer.SUPPORTED + ")");
            }
            return new QuantMix.Uniform(type);
        }

        public Options {
            java.util.Objects.requireNonNull(mix, "mix");
            if (vocabulary.size() != shape.vocabSize()) {
                throw new IllegalArgumentException("the vocabulary (" + vocabulary.description() + ") has "
                        + vocabulary.size() + " tokens but the shape needs " + shape.vocabSize());
            }
            if (threads < 1) {
                throw new IllegalArgumentException("threads " + threads + " (expected at least 1)");
            }
        }
    }

    private SyntheticModel() {
    }

    /** llama.cpp's {@code general.file_type} (enum llama_ftype) for a file whose matrices are {@code type}. */
    static int fileType(GgmlType type) {
        return new QuantMix.Uniform(type).fileType();
    }

    /** Generates and writes the model to {@code path} (atomically; nothing is left behind on failure). */
    public static void write(Options options, Path path, GgufWriter.Progress progress) throws IOException {
        ExecutorService pool = Executors.newFixedThreadPool(options.threads(), r -> {
            Thread t = new Thread(r, "synth-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            plan(options, pool).write(path, progress);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The writer for the model, with tensors that generate their data on {@code pool} when written. */
    public static GgufWriter plan(Options options, ExecutorService pool) {
        ModelShape s = options.shape().validate();
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", "random " + s.name() + " (jllm synth, seed " + options.seed() + ")");
        w.putUInt32("general.file_type", options.mix().fileType());
        if (options.mix().quantized()) {
            w.putUInt32("general.quantization_version", 2);
        }
        w.putUInt32("llama.context_length", s.contextLength());
        w.putUInt32("llama.embedding_length", s.dim());
        w.putUInt32("llama.block_count", s.layers());
        w.putUInt32("llama.feed_forward_length", s.hiddenDim());
        w.putUInt32("llama.attention.head_count", s.heads());
        w.putUInt32("llama.attention.head_count_kv", s.kvHeads());
        w.putUInt32("llama.rope.dimension_count", s.headDim());
        w.putFloat32("llama.rope.freq_base", s.ropeTheta());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", s.rmsEps());
        w.putUInt32("llama.vocab_size", s.vocabSize());
        options.vocabulary().writeTo(w);

        Generator g = new Generator(w, options, pool);
        g.matrix("token_embd.weight", s.dim(), s.vocabSize());
        if (s.ropeScaling() != null) {
            float[] factors = dev.jllm.model.Weights.llama3FreqFactors(s.headDim(), s.ropeTheta(), s.ropeScaling());
            g.vector("rope_freqs.weight", factors);
        }
        float[] ones = new float[s.dim()];
        Arrays.fill(ones, 1f);
        for (int layer = 0; layer < s.layers(); layer++) {
            String p = "blk." + layer + ".";
            g.vector(p + "attn_norm.weight", ones);
            g.matrix(p + "attn_q.weight", s.dim(), s.dim());
            g.matrix(p + "attn_k.weight", s.dim(), s.kvDim());
            g.matrix(p + "attn_v.weight", s.dim(), s.kvDim());
            g.matrix(p + "attn_output.weight", s.dim(), s.dim());
            g.vector(p + "ffn_norm.weight", ones);
            g.matrix(p + "ffn_gate.weight", s.dim(), s.hiddenDim());
            g.matrix(p + "ffn_down.weight", s.hiddenDim(), s.dim());
            g.matrix(p + "ffn_up.weight", s.dim(), s.hiddenDim());
        }
        g.vector("output_norm.weight", ones);
        if (!s.tiedEmbeddings()) {
            g.matrix("output.weight", s.dim(), s.vocabSize());
        }
        return w;
    }

    /** Declares tensors and generates their data on demand. */
    private static final class Generator {
        private final GgufWriter writer;
        private final Options options;
        private final ExecutorService pool;
        private int tensorIndex;
        private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

        Generator(GgufWriter writer, Options options, ExecutorService pool) {
            this.writer = writer;
            this.options = options;
            this.pool = pool;
        }

        /** A 1-D F32 tensor holding {@code values}. */
        void vector(String name, float[] values) {
            byte[] bytes = Quantizer.of(GgmlType.F32).quantize(values);
            tensorIndex++;
            writer.addTensor(name, GgmlType.F32, new long[] {values.length}, sink -> sink.write(ByteBuffer.wrap(bytes)));
        }

        /** A matrix of {@code rows} rows of {@code rowLength} values (ggml shape [rowLength, rows]). */
        void matrix(String name, int rowLength, int rows) {
            ModelShape s = options.shape();
            GgmlType type = options.mix().typeFor(name, new long[] {rowLength, rows}, s.layers(), !s.tiedEmbeddings());
            long index = tensorIndex++;
            writer.addTensor(name, type, new long[] {rowLength, rows}, sink -> generate(sink, index, type, rowLength, rows));
        }

        private void generate(GgufWriter.TensorSink sink, long index, GgmlType type, int rowLength, int rows)
                throws IOException {
            int rowsPerChunk = Math.max(1, CHUNK_VALUES / rowLength);
            int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
            int window = 2 * options.threads() + 1;
            Deque<Future<byte[]>> pending = new ArrayDeque<>();
            int next = 0;
            try {
                while (next < chunks || !pending.isEmpty()) {
                    while (next < chunks && pending.size() < window) {
                        int chunk = next++;
                        int first = chunk * rowsPerChunk;
                        int count = Math.min(rowsPerChunk, rows - first);
                        pending.add(pool.submit(() -> chunk(index, chunk, type, (long) count * rowLength)));
                    }
                    sink.write(ByteBuffer.wrap(pending.poll().get()));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while generating weights");
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw new IllegalStateException(e.getCause());
            } finally {
                for (Future<byte[]> f : pending) {
                    f.cancel(true);
                }
            }
        }

        /** Values of one chunk: normal(0, STD) from a generator seeded by (seed, tensor, chunk), then quantized. */
        private byte[] chunk(long tensor, long chunk, GgmlType type, long values) {
            int n = Math.toIntExact(values);
            float[] x = SCRATCH.get();
            if (x.length < n) {
                x = new float[n];
                SCRATCH.set(x);
            }
            SplittableRandom random = new SplittableRandom(mix(mix(options.seed() + 0x9E3779B97F4A7C15L * (tensor + 1))
                    + 0xBF58476D1CE4E5B9L * (chunk + 1)));
            for (int i = 0; i < n; i++) {
                x[i] = (float) random.nextGaussian() * STD;
            }
            byte[] out = new byte[Math.toIntExact(type.bytesFor(n))];
            Quantizer.of(type).quantize(x, 0, n, MemorySegment.ofArray(out), 0);
            return out;
        }
    }

    /** A 64-bit finalizer (Stafford's variant 13), so nearby seeds give unrelated streams. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
