package dev.jllm.format.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.format.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader against files written byte by byte here (not by jllm's writer), and its validation. */
class SafetensorsFileTest {

    @TempDir
    Path dir;

    /** 8-byte little-endian length, the header text as given, then the data bytes. */
    static byte[] file(String header, byte[] data) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long n = json.length;
        for (int i = 0; i < 8; i++) {
            out.write((int) (n >>> (8 * i)) & 0xff);
        }
        out.writeBytes(json);
        out.writeBytes(data);
        return out.toByteArray();
    }

    Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    // F32 1.0 = 00 00 80 3f, -2.0 = 00 00 00 c0; F16 1.0 = 00 3c, 0.5 = 00 38; BF16 3.0 = 40 40
    static final byte[] DATA = {
        0x00, 0x00, (byte) 0x80, 0x3f, 0x00, 0x00, 0x00, (byte) 0xc0,   // a: F32 [2] = 1, -2
        0x00, 0x3c, 0x00, 0x38,                                         // b: F16 [1, 2] = 1, 0.5
        0x40, 0x40};                                                    // c: BF16 [1] = 3

    static final String HEADER = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
            + "\"c\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[12,14]}}  ";

    @Test
    void readsAHandWrittenFile() throws IOException {
        Path p = write("x.safetensors", file(HEADER, DATA));
        try (Arena arena = Arena.ofShared()) {
            SafetensorsFile f = SafetensorsFile.open(p, arena);
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(java.util.List.of("a", "b", "c"), java.util.List.copyOf(f.tensors().keySet()));
            SafetensorsFile.Entry a = f.tensors().get("a");
            assertEquals(SafetensorsFile.Dtype.F32, a.dtype());
            assertArrayEquals(new long[] {2}, a.shape());
            assertEquals(1.0f, f.slice(a).get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0));
            assertEquals(-2.0f, f.slice(a).get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 4));
            SafetensorsFile.Entry b = f.tensors().get("b");
            assertArrayEquals(new long[] {1, 2}, b.shape());
            assertEquals(SafetensorsFile.Dtype.F16, b.dtype());
            assertEquals(SafetensorsFile.Dtype.BF16, f.tensors().get("c").dtype());
            // as jllm tensors: values through the F16/BF16 kernels
            var tb = new dev.jllm.tensor.Tensor("b", b.dtype().ggmlType, new long[] {2, 1}, f.slice(b));
            assertArrayEquals(new float[] {1f, 0.5f}, tb.toFloatArray());
            var c = f.tensors().get("c");
            var tc = new dev.jllm.tensor.Tensor("c", c.dtype().ggmlType, new long[] {1}, f.slice(c));
            assertArrayEquals(new float[] {3f}, tc.toFloatArray());
        }
    }

    private void assertBad(byte[] bytes, String expected) throws IOException {
        Path p = write("bad.safetensors", bytes);
        try (Arena arena = Arena.ofShared()) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(p, arena));
            assertTrue(e.getMessage().contains(expected), e.getMessage());
            assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    @Test
    void rejectsLies() throws IOException {
        assertBad(file(HEADER.replace("[12,14]", "[12,16]"), DATA), "outside the 14-byte data buffer");
        assertBad(file(HEADER.replace("[8,12]", "[6,12]"), DATA), "needs 4 bytes");
        assertBad(file(HEADER.replace("[8,12]", "[6,10]").replace("[12,14]", "[10,12]"), DATA), "overlap");
        assertBad(file(HEADER.replace("\"F16\"", "\"F17\""), DATA), "unknown dtype 'F17'");
        assertBad(file(HEADER.replace("\"F16\"", "\"F32\""), DATA), "needs 8 bytes");
        assertBad(file(HEADER.replace("[1,2]", "[2,2]"), DATA), "needs 8 bytes");
        assertBad(file(HEADER, new byte[] {1, 2}), "outside the 2-byte data buffer");
        assertBad(file(HEADER.replace("\"shape\":[2],\"data_offsets\":[0,8]", "\"shape\":[1],\"data_offsets\":[0,4]"),
                DATA), "data bytes [4, 8) belong to no tensor");
        assertBad(file("{\"a\":", DATA), "not valid JSON");
        assertBad(file("[1]", DATA), "not a JSON object");
        byte[] absurd = file(HEADER, DATA);
        absurd[7] = 0x10; // header length near 2^60
        assertBad(absurd, "header length");
        assertBad(new byte[] {1, 2, 3}, "too short");
    }
}
