package dev.jllm.model;

/**
 * Keys and values of every layer for up to {@code sequences} independent sequences of up to {@code contextLength}
 * positions each. Layout per layer: [sequence][position][kvDim].
 *
 * <p>Stored as FP16 by default, as llama.cpp's cache is (half the memory, and the same rounding as that reference),
 * or as float32 (as llama2.c keeps it).
 */
public final class KvCache {

    /** How cached keys and values are stored. */
    public enum Type { F16, F32 }

    final Type type;
    final int sequences;
    final int contextLength;
    final int kvDim;
    private final short[][] halfKeys;
    private final short[][] halfValues;
    private final float[][] floatKeys;
    private final float[][] floatValues;

    public KvCache(LlamaConfig config, int sequences, int contextLength) {
        this(config, sequences, contextLength, Type.F16);
    }

    public KvCache(LlamaConfig config, int sequences, int contextLength, Type type) {
        this.type = type;
        this.sequences = sequences;
        this.contextLength = contextLength;
        this.kvDim = config.kvDim();
        requireFits(config, sequences, contextLength, type);
        long perLayer = (long) sequences * contextLength * kvDim;
        int layers = config.layers();
        boolean half = type == Type.F16;
        halfKeys = half ? new short[layers][(int) perLayer] : null;
        halfValues = half ? new short[layers][(int) perLayer] : null;
        floatKeys = half ? null : new float[layers][(int) perLayer];
        floatValues = half ? null : new float[layers][(int) perLayer];
    }

    /** Bytes a cache of {@code sequences} x {@code contextLength} positions holds. */
    public static long byteSize(LlamaConfig config, int sequences, long contextLength, Type type) {
        return 2L * config.layers() * sequences * contextLength * config.kvDim() * (type == Type.F16 ? Short.BYTES : Float.BYTES);
    }

    /** Heap bytes left free beside a new cache: the JVM needs room for everything else it allocates. */
    private static long headroom(long available) {
        return Math.max(64L << 20, available / 10);
    }

    /**
     * Checks, before anything is allocated, that the cache fits in the Java heap (and in its per-layer arrays); fails
     * with one line giving the size needed, the memory available and the largest context that fits. A huge
     * {@code --ctx-size} used to end in OutOfMemoryError after seconds of allocating.
     */
    public static void requireFits(LlamaConfig config, int sequences, int contextLength, Type type) {
        long needed = byteSize(config, sequences, contextLength, type);
        long perToken = byteSize(config, sequences, 1, type);
        long byArrays = (Integer.MAX_VALUE - 8L) / ((long) sequences * config.kvDim());
        Runtime rt = Runtime.getRuntime();
        long available = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (needed + headroom(available) > available) {
            System.gc(); // what is in use may be mostly garbage: ask once before refusing
            available = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        }
        if (contextLength <= byArrays && needed + headroom(available) <= available) {
            return;
        }
        // Suggest 90% of what fits now: what is free varies a little from one run to the next.
        long fits = Math.min(byArrays, Math.max(0, available - headroom(available)) / perToken * 9 / 10);
        if (fits >= 1024) {
            fits -= fits % 256;
        }
        String where = sequences == 1 ? "" : " for " + sequences + " sequences";
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                "a context of %d tokens needs a KV cache of %s (%s%s) but %s of memory is available (Java heap,"
                        + " -Xmx); use --ctx-size %d or less%s", contextLength, size(needed),
                type.name().toLowerCase(java.util.Locale.ROOT), where, size(Math.max(0, available)), fits,
                type == Type.F32 ? " (or --cache-type f16, half the size)" : ""));
    }

    private static String size(long bytes) {
        return bytes >= (1L << 30) ? String.format(java.util.Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }

    public Type type() {
        return type;
    }

    public int sequences() {
        return sequences;
    }

    public int contextLength() {
        return contextLength;
    }

    int offset(int sequence, int position) {
        return (sequence * contextLength + position) * kvDim;
    }

    /** Stores {@code kvDim} keys and values from {@code k[from..]}, {@code v[from..]} at {@code offset} of layer l. */
    void store(int layer, int offset, float[] k, float[] v, int from) {
        if (type == Type.F16) {
            short[] keys = halfKeys[layer];
            short[] values = halfValues[layer];
            for (int i = 0; i < kvDim; i++) {
                keys[offset + i] = Float.floatToFloat16(k[from + i]);
                values[offset + i] = Float.floatToFloat16(v[from + i]);
            }
        } else {
            System.arraycopy(k, from, floatKeys[layer], offset, kvDim);
            System.arraycopy(v, from, floatValues[layer], offset, kvDim);
        }
    }

    /** {@code q[qOffset..qOffset+n) · key[offset..offset+n)} of layer l of a float32 cache. */
    float dotKey(int layer, int offset, float[] q, int qOffset, int n) {
        float[] keys = floatKeys[layer];
        float dot = 0f;
        for (int i = 0; i < n; i++) {
            dot += q[qOffset + i] * keys[offset + i];
        }
        return dot;
    }

    /** {@code out[0..n) += weight · value[offset..offset+n)} of layer l of a float32 cache. */
    void addValue(int layer, int offset, float weight, float[] out, int n) {
        float[] values = floatValues[layer];
        for (int i = 0; i < n; i++) {
            out[i] += weight * values[offset + i];
        }
    }

    short[] halfKeys(int layer) {
        return halfKeys[layer];
    }

    short[] halfValues(int layer) {
        return halfValues[layer];
    }

    /** Bytes held by the cache. */
    public long byteSize() {
        long perLayer = (long) sequences * contextLength * kvDim;
        int layers = type == Type.F16 ? halfKeys.length : floatKeys.length;
        return 2L * layers * perLayer * (type == Type.F16 ? Short.BYTES : Float.BYTES);
    }
}
