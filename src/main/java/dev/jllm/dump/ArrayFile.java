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
            out.write(npyHeader("<f4", dims.toString()));
            ByteBuffer bytes = ByteBuffer.allocate(width * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (long r = 0; r < count; r++) {
                rows.row(r, row);
                bytes.clear();
                bytes.asFloatBuffer().put(row);
                out.write(bytes.array());
            }
        }
    }

    /**
     * Writes a 1-D array of integers (token ids, positions): CSV as one line of integers, NumPy as {@code <i8}, the
     * int64 that transformers' {@code input_ids} are.
     */
    public void writeIntegers(Path dir, String baseName, long[] values) throws IOException {
        OutputStream file = OutputFiles.createNew(dir, baseName + "." + extension);
        if (this == CSV) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < values.length; i++) {
                line.append(i > 0 ? "," : "").append(values[i]);
            }
            try (file) {
                file.write(line.append('\n').toString().getBytes(StandardCharsets.UTF_8));
            }
            return;
        }
        try (OutputStream out = new BufferedOutputStream(file, 1 << 16)) {
            out.write(npyHeader("<i8", values.length + ","));
            ByteBuffer bytes = ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asLongBuffer().put(values);
            out.write(bytes.array());
        }
    }

    /** The NumPy 1.0 header of an array of {@code descr} and {@code shape} (a tuple's inside), padded to 64 bytes. */
    private static byte[] npyHeader(String descr, String shape) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
        int unpadded = 10 + dict.length() + 1;
        int padded = (unpadded + 63) / 64 * 64;
        String header = dict + " ".repeat(padded - unpadded) + "\n";
        ByteBuffer start = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        start.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                .putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        return start.array();
    }

    /** Reads back integers written by {@link #writeIntegers}. */
    public long[] readIntegers(Path file) throws IOException {
        if (this == CSV) {
            String line = Files.readString(file, StandardCharsets.UTF_8).strip();
            return line.isEmpty() ? new long[0] : java.util.Arrays.stream(line.split(",")).mapToLong(Long::parseLong).toArray();
        }
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int start = 10 + (b.getShort(8) & 0xffff);
        String header = new String(all, 10, start - 10, StandardCharsets.US_ASCII);
        if (!header.contains("'descr': '<i8'")) {
            throw new IOException(file + ": not an int64 array (" + header.strip() + ")");
        }
        long[] out = new long[(all.length - start) / Long.BYTES];
        b.position(start);
        b.slice().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(out);
        return out;
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
