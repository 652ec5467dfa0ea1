package dev.jllm.tensor;

/** A run of blocks decoded by a {@link BlockDecoder}; grown on demand and reused (one per thread). */
final class UnpackedBlocks {

    byte[] q = new byte[0];
    short[] scales = new short[0];
    short[] mins = new short[0];
    float[] d = new float[0];
    float[] dmin = new float[0];

    /** Makes room for {@code blocks} blocks of {@code blockSize} values. */
    UnpackedBlocks ensure(int blocks, int blockSize) {
        int values = blocks * blockSize;
        if (q.length < values) {
            q = new byte[values];
            scales = new short[values / BlockDecoder.SCALE_GROUP + 1];
            mins = new short[values / BlockDecoder.SCALE_GROUP + 1];
        }
        if (d.length < blocks) {
            d = new float[blocks];
            dmin = new float[blocks];
        }
        return this;
    }
}
