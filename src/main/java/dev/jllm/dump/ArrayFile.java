package dev.jllm.dump;

import dev.jllm.io.OutputFiles;
import java.io.BufferedOutputStream;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Float32 arrays as files a user's own code reads: CSV (one line per row of the last dimension, values printed as
 * Java's shortest round-tripping decimal, so parsing them gives the exact float) or NumPy {@code .npy} (format 1.0,
 * {@code <f4}, C order).
 */
public enum ArrayFile {
    CSV("csv"), NPY("npy");

    public final String extension;

    ArrayFile(String extension) {
        this.extension = extension;
    }

    /** Supplies row {@code r} (of {@code shape[last]} values) into {@code out}. */
    @FunctionalInterface
    public interface Rows {
        void row(long r, float[] out);
    }

    /**
     * Writes an array of {@code shape} (row-major; 1-D is one row) whose rows come from {@code rows} to the new file
     * {@code baseName.EXTENSION} in {@code dir} ({@link OutputFiles#createNew}: never over an existing entry).
     */
    public void write(Path dir, String baseName, long[] shape, Rows rows) throws IOException {
        int width = shape.length == 0 ? 1 : Math.toIntExact(shape[shape.length - 1]);
        long count = 1;
        for (int i = 0; i < shape.length - 1; i++) {
            count *= shape[i];
        }
        float[] row = new float[width];
        if (this == CSV) {
            OutputStream file = OutputFiles.createNew(dir, baseName + "." + extension);
            try (Writer w = new BufferedWriter(new OutputStreamWriter(file, StandardCharsets.UTF_8), 1 << 16)) {
                StringBuilder line = new StringBuilder();
                for (long r = 0; r < count; r++) {
                    rows.row(r, row);
                    line.setLength(0);
                    for (int i = 0; i < width; i++) {
                        if (i > 0) {
                            line.append(',');
                        }
                        line.append(row[i]);
                    }
                    line.append('\n');
                    w.write(line.toString());
                }
            }
            return;
        }
        OutputStream file = OutputFiles.createNew(dir, baseName + "." + extension);
        try (OutputStream out = new BufferedOutputStream(file, 1 << 16)) {
            StringBuilder dims = new StringBuilder();
            for (int i = 0; i < shape.length; i++) {
                dims.append(shape[i]).append(shape.length == 1 || i < shape.length - 1 ? "," : "");
                if (i < shape.length - 1) {
                    dims.append(' ');
                }
            }
            String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
            int unpadded = 10 + dict.length() + 1;
            int padded = (unpadded + 63) / 64 * 64;
            String header = dict + " ".repeat(padded - unpadded) + "\n";
            ByteBuffer start = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
            start.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                    .putShort((short) header.length());
            out.write(start.array());
            out.write(header.getBytes(StandardCharsets.US_ASCII));
            ByteBuffer bytes = ByteBuffer.allocate(width * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (long r = 0; r < count; r++) {
                rows.row(r, row);
                bytes.clear();
                bytes.asFloatBuffer().put(row);
                out.write(bytes.array());
            }
        }
    }

    /** Reads back a file this enum wrote (for tests and tools): the values, flattened. */
    public float[] read(Path file) throws IOException {
        if (this == CSV) {
            float[] out = new float[1024];
            int n = 0;
            for (String line : Files.readAllLines(file)) {
                for (String v : line.split(",")) {
                    if (n == out.length) {
                        out = java.util.Arrays.copyOf(out, 2 * n);
                    }
                    out[n++] = Float.parseFloat(v);
                }
            }
            return java.util.Arrays.copyOf(out, n);
        }
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int start = 10 + (b.getShort(8) & 0xffff);
        float[] out = new float[(all.length - start) / 4];
        b.position(start);
        b.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }
}
