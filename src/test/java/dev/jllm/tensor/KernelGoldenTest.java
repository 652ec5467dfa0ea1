package dev.jllm.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedTestData;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Kernels on files quantized by llama.cpp: dequantization must match gguf-py's reference bit for bit
 * ({@code golden/synth256/dequant_golden.json}: every block type, K-quants and IQ4 included), dot products must agree
 * with float64 on real rows, and Q8_0 / Q4_0 must stay within one quantization step of the F32 weights they were made
 * from.
 */
class KernelGoldenTest {

    private static final Set<GgmlType> SUPPORTED = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16,
            GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K,
            GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS);

    @Test
    void dequantizationMatchesGgufPyBitForBit() throws IOException, NoSuchAlgorithmException {
        JsonNode golden = new ObjectMapper().readTree(SharedTestData.file("golden/synth256/dequant_golden.json").toFile());
        Map<GgmlType, Integer> checked = new TreeMap<>();
        Map<GgmlType, Integer> unsupported = new TreeMap<>();
        Random random = new Random(42);
        for (Iterator<Map.Entry<String, JsonNode>> files = golden.fields(); files.hasNext(); ) {
            Map.Entry<String, JsonNode> file = files.next();
            String fileName = file.getKey();
            var path = fileName.startsWith("synth256")
                    ? SharedTestData.file("models/synth256/" + fileName)
                    : SharedTestData.file("models/" + fileName);
            try (GgufFile gguf = GgufReader.read(path)) {
                Map<String, Tensor> tensors = gguf.tensors();
                for (Iterator<Map.Entry<String, JsonNode>> it = file.getValue().fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> entry = it.next();
                    String where = fileName + " " + entry.getKey();
                    JsonNode expected = entry.getValue();
                    Tensor tensor = tensors.get(entry.getKey());
                    assertNotNull(tensor, where);
                    assertEquals(expected.get("type").asText(), tensor.type().name(), where);
                    long[] shape = new long[expected.get("shape_ggml").size()];
                    for (int i = 0; i < shape.length; i++) {
                        shape[i] = expected.get("shape_ggml").get(i).asLong();
                    }
                    assertArrayEquals(shape, tensor.shape(), where);
                    GgmlType type = (GgmlType) tensor.type();
                    if (!SUPPORTED.contains(type)) {
                        assertThrows(UnsupportedOperationException.class, tensor::kernel, where);
                        unsupported.merge(type, 1, Integer::sum);
                        continue;
                    }
                    float[] values = tensor.toFloatArray();
                    assertRow(expected.get("row0"), values, 0, where + " row 0");
                    int rowLength = tensor.rowLength();
                    assertRow(expected.get("row_last"), values, values.length - rowLength, where + " last row");
                    assertEquals(expected.get("sha256_f32le").asText(), sha256(values), where + " SHA-256");
                    checkDots(tensor, values, random, where);
                    checked.merge(type, 1, Integer::sum);
                }
            }
        }
        System.out.println("dequant_golden.json: checked " + checked + ", unsupported (kernel() throws) " + unsupported);
        assertTrue(unsupported.isEmpty(), "every type of dequant_golden.json has a kernel: " + unsupported);
        for (GgmlType type : EnumSet.of(GgmlType.F16, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K,
                GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS)) {
            assertTrue(checked.getOrDefault(type, 0) > 0, "no " + type + " entry was checked: " + checked);
        }
    }

    private static void assertRow(JsonNode row, float[] values, int start, String where) {
        for (int i = 0; i < row.size(); i++) {
            float want = (float) row.get(i).asDouble();
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(values[start + i]),
                    where + " element " + i + ": expected " + want + ", got " + values[start + i]);
        }
    }

    private static String sha256(float[] values) throws NoSuchAlgorithmException {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.array()));
    }

    /** Every row's vector dot product against float64 over the dequantized row. */
    private static void checkDots(Tensor tensor, float[] values, Random random, String where) {
        int n = tensor.rowLength();
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        for (long row = 0; row < tensor.rowCount(); row++) {
            double reference = 0;
            double scale = 0;
            for (int i = 0; i < n; i++) {
                double term = (double) values[(int) (row * n) + i] * x[i];
                reference += term;
                scale += Math.abs(term);
            }
            float dot = tensor.dotRow(row, x, 0);
            assertTrue(Math.abs(dot - reference) <= 1e-4 * scale + 1e-30,
                    where + " row " + row + ": dot " + dot + ", reference " + reference);
        }
    }

    /**
     * ggml's reference quantizers: Q8_0 rounds to the nearest step amax/127; Q4_0 uses the step max/-8 and may clip
     * one value a full step. Both then round the step to fp16.
     */
    @Test
    void q8_0AndQ4_0StayWithinAQuantizationStepOfTheF32Weights() {
        try (GgufFile f32 = GgufReader.read(SharedTestData.file("models/stories260K-f32.gguf"));
                GgufFile q8 = GgufReader.read(SharedTestData.file("models/stories260K-q8_0-mixed.gguf"));
                GgufFile q4 = GgufReader.read(SharedTestData.file("models/stories260K-q4_0-mixed.gguf"))) {
            Map<String, Tensor> reference = f32.tensors();
            int compared = 0;
            for (var quantized : new GgufFile[] {q8, q4}) {
                for (Tensor t : quantized.tensors().values()) {
                    if (t.type() != GgmlType.Q8_0 && t.type() != GgmlType.Q4_0) {
                        continue;
                    }
                    float[] want = reference.get(t.name()).toFloatArray();
                    float[] got = t.toFloatArray();
                    boolean q8_0 = t.type() == GgmlType.Q8_0;
                    for (int block = 0; block < want.length / 32; block++) {
                        float amax = 0;
                        for (int j = 0; j < 32; j++) {
                            amax = Math.max(amax, Math.abs(want[block * 32 + j]));
                        }
                        double bound = q8_0 ? 0.57 * amax / 127 : 1.01 * amax / 8;
                        for (int j = 0; j < 32; j++) {
                            int i = block * 32 + j;
                            assertTrue(Math.abs(got[i] - want[i]) <= bound + 1e-7, t.type() + " " + t.name()
                                    + " element " + i + ": " + got[i] + " vs " + want[i] + " (bound " + bound + ")");
                        }
                    }
                    compared++;
                }
            }
            assertEquals(2 * 32, compared, "32 quantized matrices in each mixed file");
        }
    }
}
