package dev.jllm.model;

/**
 * Keys and values of every layer for up to {@code sequences} independent sequences of up to {@code contextLength}
 * positions each. Layout per layer: [sequence][position][kvDim].
 */
public final class KvCache {

    final int sequences;
    final int contextLength;
    final int kvDim;
    final float[][] keys;
    final float[][] values;

    public KvCache(LlamaConfig config, int sequences, int contextLength) {
        this.sequences = sequences;
        this.contextLength = contextLength;
        this.kvDim = config.kvDim();
        long perLayer = (long) sequences * contextLength * kvDim;
        if (perLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("KV cache of " + sequences + " x " + contextLength
                    + " positions is too large for one layer array");
        }
        keys = new float[config.layers()][(int) perLayer];
        values = new float[config.layers()][(int) perLayer];
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

    /** Bytes held by the cache. */
    public long byteSize() {
        return 2L * keys.length * keys[0].length * Float.BYTES;
    }
}
