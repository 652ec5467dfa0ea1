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
        long perLayer = (long) sequences * contextLength * kvDim;
        if (perLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a KV cache of " + sequences + " x " + contextLength
                    + " positions is too large for one layer array");
        }
        int layers = config.layers();
        boolean half = type == Type.F16;
        halfKeys = half ? new short[layers][(int) perLayer] : null;
        halfValues = half ? new short[layers][(int) perLayer] : null;
        floatKeys = half ? null : new float[layers][(int) perLayer];
        floatValues = half ? null : new float[layers][(int) perLayer];
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
