package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** inspect names the tensor types jllm has no kernel for, and says nothing of the kind for a file it runs. */
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
}
