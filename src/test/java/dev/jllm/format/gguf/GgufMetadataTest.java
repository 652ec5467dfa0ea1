package dev.jllm.format.gguf;

import static dev.jllm.format.gguf.TestGguf.ARRAY;
import static dev.jllm.format.gguf.TestGguf.BOOL;
import static dev.jllm.format.gguf.TestGguf.FLOAT32;
import static dev.jllm.format.gguf.TestGguf.FLOAT64;
import static dev.jllm.format.gguf.TestGguf.INT16;
import static dev.jllm.format.gguf.TestGguf.INT32;
import static dev.jllm.format.gguf.TestGguf.INT64;
import static dev.jllm.format.gguf.TestGguf.INT8;
import static dev.jllm.format.gguf.TestGguf.STRING;
import static dev.jllm.format.gguf.TestGguf.UINT16;
import static dev.jllm.format.gguf.TestGguf.UINT32;
import static dev.jllm.format.gguf.TestGguf.UINT64;
import static dev.jllm.format.gguf.TestGguf.UINT8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.format.ModelFile;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every metadata value type, read from GGUF files this test writes byte by byte. */
class GgufMetadataTest {

    @TempDir
    Path dir;

    @Test
    void readsEveryScalarAndArrayType() {
        TestGguf g = new TestGguf();
        g.alignment = 64;
        g.u32("general.alignment", 64)
                .kv("u8", UINT8, b -> b.u8(200))
                .kv("i8", INT8, b -> b.u8(0xFB))
                .kv("u16", UINT16, b -> b.u16(60000))
                .kv("i16", INT16, b -> b.u16(-300))
                .kv("u32", UINT32, b -> b.u32(4_000_000_000L))
                .kv("i32", INT32, b -> b.u32(-7))
                .kv("f32", FLOAT32, b -> b.f32(1.5f))
                .kv("true", BOOL, b -> b.u8(1))
                .kv("false", BOOL, b -> b.u8(0))
                .kv("string", STRING, b -> b.str("héllo ✓ 🦙"))
                .kv("empty string", STRING, b -> b.str(""))
                .kv("u64", UINT64, b -> b.u64(1L << 40))
                .kv("u64 max", UINT64, b -> b.u64(-1L))
                .kv("i64", INT64, b -> b.u64(-1234567890123L))
                .kv("f64", FLOAT64, b -> b.f64(Math.PI))
                .kv("a.u8", ARRAY, b -> b.u32(UINT8).u64(3).u8(1).u8(2).u8(255))
                .kv("a.i8", ARRAY, b -> b.u32(INT8).u64(2).u8(0x80).u8(0x7F))
                .kv("a.u16", ARRAY, b -> b.u32(UINT16).u64(2).u16(0xFFFF).u16(1))
                .kv("a.i16", ARRAY, b -> b.u32(INT16).u64(2).u16(0x8000).u16(7))
                .kv("a.u32", ARRAY, b -> b.u32(UINT32).u64(2).u32(0xFFFFFFFFL).u32(3))
                .kv("a.i32", ARRAY, b -> b.u32(INT32).u64(3).u32(-1).u32(0).u32(Integer.MAX_VALUE))
                .kv("a.f32", ARRAY, b -> b.u32(FLOAT32).u64(2).f32(-0.5f).f32(Float.MAX_VALUE))
                .kv("a.bool", ARRAY, b -> b.u32(BOOL).u64(3).u8(1).u8(0).u8(1))
                .kv("a.string", ARRAY, b -> b.u32(STRING).u64(3).str("a").str("").str("ü"))
                .kv("a.u64", ARRAY, b -> b.u32(UINT64).u64(2).u64(-1L).u64(5))
                .kv("a.i64", ARRAY, b -> b.u32(INT64).u64(1).u64(Long.MIN_VALUE))
                .kv("a.f64", ARRAY, b -> b.u32(FLOAT64).u64(2).f64(1e300).f64(-0.0))
                .kv("a.empty", ARRAY, b -> b.u32(INT32).u64(0))
                .kv("a.nested", ARRAY, b -> b.u32(ARRAY).u64(2)
                        .u32(INT32).u64(2).u32(1).u32(2)
                        .u32(STRING).u64(1).str("x"))
                .kv("a.deep", ARRAY, b -> b.u32(ARRAY).u64(1)
                        .u32(ARRAY).u64(1)
                        .u32(UINT64).u64(1).u64(9));
        Path file = g.write(dir.resolve("types.gguf"));
        try (GgufFile gguf = GgufReader.read(file)) {
            Map<String, Object> m = gguf.metadata();
            assertEquals(List.of("general.alignment", "u8", "i8", "u16", "i16", "u32", "i32", "f32", "true", "false",
                    "string", "empty string", "u64", "u64 max", "i64", "f64", "a.u8", "a.i8", "a.u16", "a.i16", "a.u32",
                    "a.i32", "a.f32", "a.bool", "a.string", "a.u64", "a.i64", "a.f64", "a.empty", "a.nested", "a.deep"),
                    List.copyOf(m.keySet()), "keys in file order");
            assertEquals(64, gguf.alignment());
            assertEquals(0, gguf.dataOffset() % 64);
            assertEquals(64L, m.get("general.alignment"));
            assertEquals(200, m.get("u8"));
            assertEquals(-5, m.get("i8"));
            assertEquals(60000, m.get("u16"));
            assertEquals(-300, m.get("i16"));
            assertEquals(4_000_000_000L, m.get("u32"));
            assertEquals(-7, m.get("i32"));
            assertEquals(1.5f, m.get("f32"));
            assertEquals(Boolean.TRUE, m.get("true"));
            assertEquals(Boolean.FALSE, m.get("false"));
            assertEquals("héllo ✓ 🦙", m.get("string"));
            assertEquals("", m.get("empty string"));
            assertEquals(1L << 40, m.get("u64"));
            assertEquals(-1L, m.get("u64 max"), "uint64 keeps its raw bits");
            assertEquals(-1234567890123L, m.get("i64"));
            assertEquals(Math.PI, m.get("f64"));
            assertArrayEquals(new int[] {1, 2, 255}, (int[]) m.get("a.u8"));
            assertArrayEquals(new int[] {-128, 127}, (int[]) m.get("a.i8"));
            assertArrayEquals(new int[] {65535, 1}, (int[]) m.get("a.u16"));
            assertArrayEquals(new int[] {-32768, 7}, (int[]) m.get("a.i16"));
            assertArrayEquals(new long[] {0xFFFFFFFFL, 3}, (long[]) m.get("a.u32"));
            assertArrayEquals(new int[] {-1, 0, Integer.MAX_VALUE}, (int[]) m.get("a.i32"));
            assertArrayEquals(new float[] {-0.5f, Float.MAX_VALUE}, (float[]) m.get("a.f32"));
            assertArrayEquals(new boolean[] {true, false, true}, (boolean[]) m.get("a.bool"));
            assertArrayEquals(new String[] {"a", "", "ü"}, (String[]) m.get("a.string"));
            assertArrayEquals(new long[] {-1L, 5}, (long[]) m.get("a.u64"));
            assertArrayEquals(new long[] {Long.MIN_VALUE}, (long[]) m.get("a.i64"));
            assertArrayEquals(new double[] {1e300, -0.0}, (double[]) m.get("a.f64"));
            assertArrayEquals(new int[0], (int[]) m.get("a.empty"));
            List<?> nested = assertInstanceOf(List.class, m.get("a.nested"));
            assertEquals(2, nested.size());
            assertArrayEquals(new int[] {1, 2}, (int[]) nested.get(0));
            assertArrayEquals(new String[] {"x"}, (String[]) nested.get(1));
            List<?> deep = assertInstanceOf(List.class, m.get("a.deep"));
            List<?> inner = assertInstanceOf(List.class, deep.get(0));
            assertArrayEquals(new long[] {9}, (long[]) inner.get(0));

            Map<String, GgufValueType> types = gguf.valueTypes();
            assertEquals(GgufValueType.UINT8, types.get("u8"));
            assertEquals(GgufValueType.UINT32, types.get("u32"));
            assertEquals(GgufValueType.FLOAT64, types.get("f64"));
            assertEquals(GgufValueType.ARRAY, types.get("a.nested"));
            assertTrue(gguf.tensorInfos().isEmpty());
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void loadsATinyLlamaWrittenByHand(int version) {
        TestGguf g = TestGguf.tinyLlama();
        g.version = version;
        Path file = g.write(dir.resolve("tiny-v" + version + ".gguf"));
        try (ModelFile model = GgufReader.load(file)) {
            assertEquals("GGUF v" + version, model.format());
            LlamaConfig c = model.config();
            assertEquals(new LlamaConfig(8, 1, 2, 1, 32, 4, 16, 4, 4, 500000f, 1e-5f, null), c);

            TokenizerSpec t = model.tokenizer();
            assertEquals("llama", t.model());
            assertNull(t.pre());
            assertArrayEquals(new String[] {"<unk>", "<s>", "</s>", "▁a"}, t.tokens());
            assertArrayEquals(new float[] {0, 0, 0, -1.5f}, t.scores());
            assertArrayEquals(new int[] {2, 3, 3, 1}, t.tokenTypes());
            assertNull(t.merges());
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals(-1, t.unkId(), "absent");
            assertEquals(-1, t.padId(), "0xFFFFFFFF");
            assertTrue(t.addBos(), "llama default");
            assertFalse(t.addEos());
            assertTrue(t.addSpacePrefix(), "llama default");
            assertNull(t.chatTemplate());

            assertEquals(List.of("token_embd.weight", "blk.0.attn_norm.weight", "blk.0.ffn_gate.weight"),
                    List.copyOf(model.tensors().keySet()));
            Tensor embd = model.tensor("token_embd.weight");
            assertEquals(GgmlType.F32, embd.type());
            assertArrayEquals(new long[] {8, 4}, embd.shape());
            float[] values = embd.toFloatArray();
            for (int i = 0; i < 32; i++) {
                assertEquals(TestGguf.value(i), values[i]);
            }
            Tensor norm = model.tensor("blk.0.attn_norm.weight");
            assertEquals(GgmlType.F16, norm.type());
            float[] normValues = norm.toFloatArray();
            for (int i = 0; i < 8; i++) {
                assertEquals(TestGguf.value(i), normValues[i]);
            }
            Tensor gate = model.tensor("blk.0.ffn_gate.weight");
            assertEquals(GgmlType.Q8_0, gate.type());
            assertEquals(68, gate.byteSize());
            float[] gateValues = gate.toFloatArray();
            for (int i = 0; i < 64; i++) {
                assertEquals((i - 40) * 0.5f, gateValues[i]);
            }
            assertEquals("llama", model.metadata().get("general.architecture"));
        }
    }

    @Test
    void explicitTokenizerFlagsWinOverDefaults() {
        TestGguf g = TestGguf.tinyLlama()
                .bool("tokenizer.ggml.add_bos_token", false)
                .bool("tokenizer.ggml.add_eos_token", true)
                .bool("tokenizer.ggml.add_space_prefix", false)
                .string("tokenizer.ggml.pre", "default")
                .stringArray("tokenizer.ggml.merges", "▁ a")
                .u32("tokenizer.ggml.unknown_token_id", 0)
                .string("tokenizer.chat_template", "{{ messages }}");
        try (ModelFile model = GgufReader.load(g.write(dir.resolve("flags.gguf")))) {
            TokenizerSpec t = model.tokenizer();
            assertFalse(t.addBos());
            assertTrue(t.addEos());
            assertFalse(t.addSpacePrefix());
            assertEquals("default", t.pre());
            assertEquals(List.of("▁ a"), t.merges());
            assertEquals(0, t.unkId());
            assertEquals("{{ messages }}", t.chatTemplate());
        }
    }

    @Test
    void aFileWithoutTokenizerHasNone() {
        TestGguf g = new TestGguf()
                .string("general.architecture", "llama")
                .u32("llama.embedding_length", 8)
                .u32("llama.block_count", 1)
                .u32("llama.attention.head_count", 2)
                .u32("llama.feed_forward_length", 32)
                .u32("llama.context_length", 16)
                .u32("llama.vocab_size", 10);
        try (ModelFile model = GgufReader.load(g.write(dir.resolve("no-tokenizer.gguf")))) {
            assertNull(model.tokenizer());
            assertEquals(new LlamaConfig(8, 1, 2, 2, 32, 10, 16, 4, 4, 10000f, 1e-5f, null), model.config());
        }
    }

    @Test
    void filesLargerThan2GiBWork() throws IOException {
        TestGguf g = TestGguf.tinyLlama();
        long far = 3L << 30;
        g.tensor("blk.0.ffn_norm.weight", TestGguf.T_F32, far, 8);
        Path file = g.write(dir.resolve("sparse-3gib.gguf"));
        long dataOffset = Files.size(file) - g.dataSize();
        ByteBuffer values = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 8; i++) {
            values.putFloat(TestGguf.value(i));
        }
        try (var raf = new RandomAccessFile(file.toFile(), "rw")) { // sparse: takes no disk space
            raf.seek(dataOffset + far);
            raf.write(values.array());
        }
        try (ModelFile model = GgufReader.load(file)) {
            Tensor norm = model.tensor("blk.0.ffn_norm.weight");
            float[] got = norm.toFloatArray();
            for (int i = 0; i < 8; i++) {
                assertEquals(TestGguf.value(i), got[i]);
            }
            assertEquals(GgmlType.F32, model.tensor("token_embd.weight").type());
        }
    }

    @Test
    void aKnownTypeWithoutKernelLoadsAndFailsOnlyWhenComputing() {
        TestGguf g = TestGguf.tinyLlama();
        long offset = g.alignData();
        g.tensor("blk.0.ffn_up.weight", GgmlType.IQ3_S.id, offset, 256, 1).data(new byte[GgmlType.IQ3_S.blockBytes]);
        try (ModelFile model = GgufReader.load(g.write(dir.resolve("iq3s.gguf")))) {
            Tensor t = model.tensor("blk.0.ffn_up.weight");
            assertEquals(GgmlType.IQ3_S, t.type());
            assertEquals(110, t.byteSize());
            UnsupportedOperationException e =
                    assertThrows(UnsupportedOperationException.class, t::kernel);
            assertTrue(e.getMessage().contains("IQ3_S"), e.getMessage());
        }
    }
}
