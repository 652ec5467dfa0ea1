package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jllm inspect --metadata} prints every key of the file, in the file's order, with its value: checked against
 * the GGUF files of ../shared read by a reader written here from the GGUF spec (independent of jllm's), and against a
 * llama2.c header read from its bytes. It names the tensor types jllm has no kernel for, and says nothing of the kind
 * for a file it runs.
 */
class InspectCommandTest {

    @TempDir
    Path dir;

    @Test
    void namesTensorTypesWithoutAKernel() throws IOException {
        Path file = dir.resolve("iq2.gguf");
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putUInt32("llama.embedding_length", 256);
        w.putUInt32("llama.block_count", 1);
        w.putUInt32("llama.attention.head_count", 4);
        w.putUInt32("llama.feed_forward_length", 512);
        w.putUInt32("llama.context_length", 64);
        addZeros(w, "token_embd.weight", GgmlType.IQ2_XXS, 256, 8);
        addZeros(w, "blk.0.attn_q.weight", GgmlType.IQ2_XXS, 256, 256);
        addZeros(w, "blk.0.attn_k.weight", GgmlType.Q4_K, 256, 256);
        addZeros(w, "blk.0.attn_norm.weight", GgmlType.F32, 256);
        w.write(file, null);
        CliTest.Result r = CliTest.run("inspect", file.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("blk.0.attn_q.weight     IQ2_XXS"), r.out());
        assertTrue(r.out().contains("(no kernel in jllm)"), r.out());
        assertTrue(r.out().contains("jllm cannot run this file: tensor type IQ2_XXS (2 tensors) has no kernel (jllm runs"
                + " F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16)"), r.out());

        CliTest.Result runs = CliTest.run("inspect", SharedData.model("synth256/synth256-q4_k_m-mixed.gguf").toString());
        assertEquals(0, runs.code(), runs.err());
        assertFalse(runs.out().contains("no kernel"), runs.out());
        assertTrue(runs.out().contains("output.weight             Q6_K"), runs.out());
    }

    private static void addZeros(GgufWriter w, String name, GgmlType type, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        byte[] bytes = new byte[Math.toIntExact(type.bytesFor(n))];
        w.addTensor(name, type, shape, sink -> sink.write(ByteBuffer.wrap(bytes)));
    }

    /** A metadata value as the spec stores it: a scalar, or an array's element count and first elements. */
    private record Value(String scalar, long count, List<String> head) {
    }

    @ParameterizedTest
    @CsvSource({"stories260K.gguf", "llama3-tiny-q8_0.gguf", "stories260K-q4_0-mixed.gguf"})
    void everyGgufKeyWithItsValueInFileOrder(String file) throws IOException {
        Map<String, Value> expected = readMetadata(Files.readAllBytes(SharedData.model(file)));
        CliTest.Result r = CliTest.run("inspect", SharedData.model(file).toString(), "--metadata");
        assertEquals(0, r.code(), r.err());
        Map<String, String> printed = metadataLines(r.out());
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(printed.keySet()), "every key, in the file's order");
        for (Map.Entry<String, Value> e : expected.entrySet()) {
            String line = printed.get(e.getKey());
            Value v = e.getValue();
            if (v.scalar() != null) {
                String s = v.scalar();
                assertEquals(s.length() > 77 ? s.substring(0, 77) + "..." : s, line, e.getKey());
            } else {
                assertTrue(line.startsWith("array[" + v.count() + "]"), e.getKey() + ": " + line);
                if (line.length() > ("array[" + v.count() + "]").length()) { // a list shows its first elements
                    String shown = line.substring(line.indexOf(" [") + 2, line.lastIndexOf(']'));
                    assertEquals(String.join(", ", v.head()) + (v.count() > 5 ? ", ..." : ""), shown, e.getKey());
                }
            }
        }
        // Without --metadata, none of it.
        CliTest.Result plain = CliTest.run("inspect", SharedData.model(file).toString());
        assertTrue(metadataLines(plain.out()).isEmpty(), plain.out());
    }

    @Test
    void llama2cHeaderFields() throws IOException {
        ByteBuffer header = ByteBuffer.wrap(Files.readAllBytes(SharedData.model("stories260K.bin")), 0, 28)
                .order(ByteOrder.LITTLE_ENDIAN);
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("llama2c.version", "0");
        for (int i = 0; i < names.length; i++) {
            expected.put("llama2c." + names[i], Integer.toString(header.getInt(4 * i)));
        }
        expected.put("llama2c.shared_classifier", Boolean.toString(header.getInt(20) > 0));
        CliTest.Result r = CliTest.run("inspect", SharedData.model("stories260K.bin").toString(), "--metadata");
        assertEquals(0, r.code(), r.err());
        assertEquals(expected, metadataLines(r.out()));
    }

    /** The block between the summary and the tensor table: {@code key  value} lines. */
    private static Map<String, String> metadataLines(String out) {
        List<String> lines = out.lines().toList();
        Map<String, String> kvs = new LinkedHashMap<>();
        int blank = lines.indexOf("");
        if (blank < 0 || lines.get(blank + 1).startsWith("name ")) {
            return kvs;
        }
        for (String line : lines.subList(blank + 1, lines.size())) {
            if (line.isEmpty()) {
                break;
            }
            assertTrue(line.length() > 46 && line.charAt(45) == ' ', "key padded to 45 columns: " + line);
            kvs.put(line.substring(0, 45).strip(), line.substring(46));
        }
        return kvs;
    }

    // ---- a GGUF metadata reader, from the spec (ggml/docs/gguf.md) ----

    private static Map<String, Value> readMetadata(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x46554747, b.getInt(), "GGUF magic");
        assertEquals(3, b.getInt(), "version");
        b.getLong(); // tensor count
        long count = b.getLong();
        Map<String, Value> kvs = new LinkedHashMap<>();
        for (long i = 0; i < count; i++) {
            String key = string(b);
            int type = b.getInt();
            if (type == 9) {
                int elementType = b.getInt();
                long n = b.getLong();
                List<String> head = new ArrayList<>();
                for (long k = 0; k < n; k++) {
                    String element = scalar(b, elementType);
                    if (k < 5) {
                        head.add(element);
                    }
                }
                kvs.put(key, new Value(null, n, head));
            } else {
                kvs.put(key, new Value(scalar(b, type), 0, null));
            }
        }
        return kvs;
    }

    private static String scalar(ByteBuffer b, int type) {
        return switch (type) {
            case 0 -> Integer.toString(Byte.toUnsignedInt(b.get()));
            case 1 -> Byte.toString(b.get());
            case 2 -> Integer.toString(Short.toUnsignedInt(b.getShort()));
            case 3 -> Short.toString(b.getShort());
            case 4 -> Integer.toUnsignedString(b.getInt());
            case 5 -> Integer.toString(b.getInt());
            case 6 -> Float.toString(b.getFloat());
            case 7 -> Boolean.toString(b.get() != 0);
            case 8 -> string(b);
            case 10 -> Long.toUnsignedString(b.getLong());
            case 11 -> Long.toString(b.getLong());
            case 12 -> Double.toString(b.getDouble());
            default -> throw new AssertionError("GGUF value type " + type);
        };
    }

    private static String string(ByteBuffer b) {
        int length = Math.toIntExact(b.getLong());
        String s = new String(b.array(), b.position(), length, StandardCharsets.UTF_8);
        b.position(b.position() + length);
        return s;
    }
}
