package dev.jllm.format.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** Writes small GGUF files byte by byte for tests, including deliberately broken ones. */
final class TestGguf {

    static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
            STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12;
    static final int T_F32 = 0, T_F16 = 1, T_Q8_0 = 8;

    /** A little-endian byte sink. */
    static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes u8(int v) {
            out.write(v);
            return this;
        }

        Bytes u16(int v) {
            return u8(v).u8(v >>> 8);
        }

        Bytes u32(long v) {
            return u16((int) v).u16((int) (v >>> 16));
        }

        Bytes u64(long v) {
            return u32(v).u32(v >>> 32);
        }

        Bytes f32(float v) {
            return u32(Float.floatToRawIntBits(v));
        }

        Bytes f64(double v) {
            return u64(Double.doubleToRawLongBits(v));
        }

        Bytes str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            return bytes(b);
        }

        Bytes bytes(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        int size() {
            return out.size();
        }

        byte[] toArray() {
            return out.toByteArray();
        }
    }

    int magic = 0x46554747;
    int version = 3;
    int alignment = 32;
    private final List<Consumer<Bytes>> kvs = new ArrayList<>();
    private final List<Consumer<Bytes>> infos = new ArrayList<>();
    private final Bytes data = new Bytes();

    /** A key/value pair whose value bytes {@code value} writes after the type id. */
    TestGguf kv(String key, int type, Consumer<Bytes> value) {
        kvs.add(b -> {
            b.str(key).u32(type);
            value.accept(b);
        });
        return this;
    }

    TestGguf u32(String key, long v) {
        return kv(key, UINT32, b -> b.u32(v));
    }

    TestGguf f32(String key, float v) {
        return kv(key, FLOAT32, b -> b.f32(v));
    }

    TestGguf string(String key, String v) {
        return kv(key, STRING, b -> b.str(v));
    }

    TestGguf bool(String key, boolean v) {
        return kv(key, BOOL, b -> b.u8(v ? 1 : 0));
    }

    TestGguf stringArray(String key, String... values) {
        return kv(key, ARRAY, b -> {
            b.u32(STRING).u64(values.length);
            for (String s : values) {
                b.str(s);
            }
        });
    }

    /** A tensor info with an explicit data offset (relative to the data section). */
    TestGguf tensor(String name, int type, long offset, long... shape) {
        infos.add(b -> {
            b.str(name).u32(shape.length);
            for (long d : shape) {
                b.u64(d);
            }
            b.u32(type).u64(offset);
        });
        return this;
    }

    /** Appends raw bytes to the data section (the caller keeps offsets aligned). */
    TestGguf data(byte[] bytes) {
        data.bytes(bytes);
        return this;
    }

    /** Pads the data section to the alignment and returns the offset the next tensor starts at. */
    long alignData() {
        while (data.size() % alignment != 0) {
            data.u8(0);
        }
        return data.size();
    }

    /** Bytes in the data section so far (the data section ends the file). */
    long dataSize() {
        return data.size();
    }

    byte[] bytes() {
        Bytes b = new Bytes();
        b.u32(magic).u32(version).u64(infos.size()).u64(kvs.size());
        kvs.forEach(kv -> kv.accept(b));
        infos.forEach(info -> info.accept(b));
        while (b.size() % alignment != 0) {
            b.u8(0);
        }
        b.bytes(data.toArray());
        return b.toArray();
    }

    Path write(Path file) {
        try {
            Files.write(file, bytes());
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A complete, valid little llama model: dim 8, 2 heads, 1 KV head, 1 layer, FFN 32, vocab 4, with tensors in
     * F32, F16 and Q8_0 whose values are {@link #value(int)} (Q8_0 with scale 0.5).
     */
    static TestGguf tinyLlama() {
        TestGguf g = new TestGguf();
        g.string("general.architecture", "llama")
                .u32("llama.embedding_length", 8)
                .u32("llama.block_count", 1)
                .u32("llama.attention.head_count", 2)
                .u32("llama.attention.head_count_kv", 1)
                .u32("llama.feed_forward_length", 32)
                .u32("llama.context_length", 16)
                .f32("llama.rope.freq_base", 500000f)
                .string("tokenizer.ggml.model", "llama")
                .stringArray("tokenizer.ggml.tokens", "<unk>", "<s>", "</s>", "▁a")
                .kv("tokenizer.ggml.scores", ARRAY, b -> b.u32(FLOAT32).u64(4).f32(0).f32(0).f32(0).f32(-1.5f))
                .kv("tokenizer.ggml.token_type", ARRAY, b -> b.u32(INT32).u64(4).u32(2).u32(3).u32(3).u32(1))
                .u32("tokenizer.ggml.bos_token_id", 1)
                .u32("tokenizer.ggml.eos_token_id", 2)
                .u32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFL);
        Bytes embd = new Bytes();
        for (int i = 0; i < 32; i++) {
            embd.f32(value(i));
        }
        long offset = g.alignData();
        g.tensor("token_embd.weight", T_F32, offset, 8, 4).data(embd.toArray());
        Bytes norm = new Bytes();
        for (int i = 0; i < 8; i++) {
            norm.u16(Float.floatToFloat16(value(i)));
        }
        offset = g.alignData();
        g.tensor("blk.0.attn_norm.weight", T_F16, offset, 8).data(norm.toArray());
        Bytes q8 = new Bytes();
        for (int block = 0; block < 2; block++) {
            q8.u16(Float.floatToFloat16(0.5f));
            for (int j = 0; j < 32; j++) {
                q8.u8(block * 32 + j - 40);
            }
        }
        offset = g.alignData();
        g.tensor("blk.0.ffn_gate.weight", T_Q8_0, offset, 32, 2).data(q8.toArray());
        return g;
    }

    /** The value of element i of the tiny model's F32 and F16 tensors (exact in fp16). */
    static float value(int i) {
        return (i - 10) * 0.25f;
    }
}
