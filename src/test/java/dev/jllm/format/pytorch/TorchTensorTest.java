package dev.jllm.format.pytorch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Views, element types and the other contents of training checkpoints. */
class TorchTensorTest {

    @TempDir
    Path dir;

    private Path write(byte[] bytes) throws IOException {
        Path p = Files.createTempFile(dir, "ckpt", ".pt");
        Files.write(p, bytes);
        return p;
    }

    @Test
    void aTransposedViewIsCopiedExplicitlyIntoRowMajorOrder() throws IOException {
        // wq's storage holds W transposed; the pickle describes W as the view size [8, 8], stride [1, 8]
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        PickleWriter.TensorSpec wq = specs.get("layers.0.attention.wq.weight");
        specs.put("layers.0.attention.wq.weight", new PickleWriter.TensorSpec(wq.key(), wq.type(), 64, 0,
                new long[] {8, 8}, new long[] {1, 8}));
        byte[] file = TinyCheckpoint.zip(TinyCheckpoint.pickle(specs), TorchZipWriter.Lie.NONE).toBytes();
        float[] stored = TinyCheckpoint.values(1, 64);
        try (ModelFile f = ModelLoaders.open(write(file))) {
            var q = f.tensor("blk.0.attn_q.weight");
            assertFalse(q.data().isMapped(), "copied");
            float[] values = q.toFloatArray();
            for (int r = 0; r < 8; r++) {
                for (int c = 0; c < 8; c++) {
                    assertEquals(stored[c * 8 + r], values[r * 8 + c]);
                }
            }
            assertTrue(f.tensor("blk.0.attn_k.weight").data().isMapped(), "contiguous views stay in place");
        }
    }

    @Test
    void zip64SizesAndOffsetsAreRead() throws IOException {
        byte[] file = TinyCheckpoint.zip(TinyCheckpoint.pickle(TinyCheckpoint.specs()), TorchZipWriter.Lie.NONE).zip64()
                .toBytes();
        try (ModelFile f = ModelLoaders.open(write(file))) {
            assertArrayEquals(TinyCheckpoint.values(10, 8), f.tensor("output_norm.weight").toFloatArray());
        }
        byte[] lying = TinyCheckpoint.zip(TinyCheckpoint.pickle(TinyCheckpoint.specs()),
                TorchZipWriter.Lie.DESCRIPTOR_SIZE).zip64().toBytes();
        Path p = write(lying);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(p).close());
        assertTrue(e.getMessage().contains("does not repeat the central directory's crc and size"), e.getMessage());
    }

    @Test
    void anExpandedViewIsRefusedRatherThanCopiedLarger() throws IOException {
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        // wq as the 8 values of the final norm's storage repeated 8 times (stride 0): 64 elements from 8
        specs.put("layers.0.attention.wq.weight", new PickleWriter.TensorSpec("10", TorchStorageType.FLOAT, 8, 0,
                new long[] {8, 8}, new long[] {0, 1}));
        byte[] file = TinyCheckpoint.zip(TinyCheckpoint.pickle(specs), TorchZipWriter.Lie.NONE).toBytes();
        Path p = write(file);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(p).close());
        assertTrue(e.getMessage().contains("is an expanded view"), e.getMessage());
    }

    @Test
    void halfAndBfloat16StoragesBecomeF16AndBf16Tensors() throws IOException {
        for (TorchStorageType type : new TorchStorageType[] {TorchStorageType.HALF, TorchStorageType.BFLOAT16}) {
            Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
            specs.replaceAll((name, s) -> new PickleWriter.TensorSpec(s.key(), type, s.storageElements(), s.offset(),
                    s.size(), s.stride()));
            TorchZipWriter zip = TorchZipWriter.checkpoint("tiny", TinyCheckpoint.pickle(specs));
            int i = 0;
            for (long[] size : TinyCheckpoint.sizes().values()) {
                long n = 1;
                for (long d : size) {
                    n *= d;
                }
                float[] v = TinyCheckpoint.values(i, n);
                ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : v) {
                    b.putShort(type == TorchStorageType.HALF ? Float.floatToFloat16(x)
                            : dev.jllm.quant.Halfs.toBF16(x));
                }
                zip.add("data/" + i++, b.array());
            }
            try (ModelFile f = ModelLoaders.open(write(zip.toBytes()))) {
                var norm = f.tensor("output_norm.weight");
                assertEquals(type.ggmlType, norm.type());
                float[] expected = TinyCheckpoint.values(10, 8);
                float[] actual = norm.toFloatArray();
                for (int k = 0; k < 8; k++) {
                    assertEquals(expected[k], actual[k], Math.abs(expected[k]) / 128, "rounded to 16 bits");
                }
            }
        }
    }

    @Test
    void optimizerStateOfOtherTypesIsReadPastAndAnIntegerWeightIsRefused() throws IOException {
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        PickleWriter p = new PickleWriter().proto(2).emptyDict().mark();
        p.string("model").stateDict(specs);
        p.string("optimizer").emptyDict().mark().string("state").emptyDict().mark().integer(0).emptyDict().mark()
                .string("step").tensor(PickleWriter.TensorSpec.contiguous("step", TorchStorageType.LONG))
                .setItems().setItems().string("param_groups").op(']').setItems();
        p.string("model_args").plainDict(TinyCheckpoint.modelArgs());
        p.string("iter_num").integer(2000).string("best_val_loss").floating(1.25);
        byte[] pickle = p.setItems().stop().bytes();
        TorchZipWriter zip = TinyCheckpoint.zip(pickle, TorchZipWriter.Lie.NONE);
        zip.add("data/step", ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(2000).array());
        try (ModelFile f = ModelLoaders.open(write(zip.toBytes()))) {
            assertEquals(12, f.tensors().size());
        }
        PickleWriter.TensorSpec norm = specs.get("norm.weight");
        specs.put("norm.weight", new PickleWriter.TensorSpec(norm.key(), TorchStorageType.INT, 8, 0, norm.size(),
                norm.stride()));
        Path bad = write(TinyCheckpoint.zip(TinyCheckpoint.pickle(specs), TorchZipWriter.Lie.NONE).toBytes());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(bad).close());
        assertTrue(e.getMessage().contains("'norm.weight' is held in a torch.IntStorage"), e.getMessage());
    }

    @Test
    void aStateDictWithoutHyperParametersOrParamsJsonIsExplained() throws IOException {
        byte[] pickle = new PickleWriter().proto(2).stateDict(TinyCheckpoint.specs()).stop().bytes();
        Path p = write(TinyCheckpoint.zip(pickle, TorchZipWriter.Lie.NONE).toBytes());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(p).close());
        assertTrue(e.getMessage().contains("no 'model' and 'model_args'") && e.getMessage().contains("params.json"),
                e.getMessage());
    }

    @Test
    void tiledTransposesMatchPlainLoopsForBothElementSizes() {
        Random random = new Random(5);
        int rows = 70;
        int cols = 131; // neither a multiple of the 64-element tile
        for (int bytes : new int[] {2, 4}) {
            byte[] src = new byte[rows * cols * bytes];
            random.nextBytes(src);
            MemorySegment in = MemorySegment.ofArray(src);
            MemorySegment out = MemorySegment.ofArray(new byte[src.length]);
            // src holds the transpose (cols rows of rows values); read it as rows x cols
            StridedCopy.copy(in, 0, new long[] {rows, cols}, new long[] {1, rows}, out, 0, new long[] {cols, 1}, bytes);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    assertEquals(-1, in.asSlice((long) (c * rows + r) * bytes, bytes).mismatch(
                            out.asSlice((long) (r * cols + c) * bytes, bytes)), r + "," + c);
                }
            }
        }
    }

    @Test
    void stridedCopyMatchesPlainLoops() {
        Random random = new Random(3);
        long[] size = {3, 4, 5};
        long[] srcStride = {1, 3 * 5, 3};
        long[] dstStride = TorchTensor.contiguousStrides(size);
        float[] src = new float[100];
        for (int i = 0; i < src.length; i++) {
            src[i] = random.nextFloat();
        }
        MemorySegment dst = MemorySegment.ofArray(new float[60]);
        StridedCopy.copy(MemorySegment.ofArray(src), 2, size, srcStride, dst, 0, dstStride, 4);
        for (int a = 0; a < 3; a++) {
            for (int b = 0; b < 4; b++) {
                for (int c = 0; c < 5; c++) {
                    assertEquals(src[2 + a * 1 + b * 15 + c * 3],
                            dst.getAtIndex(ValueLayout.JAVA_FLOAT, a * 20 + b * 5 + c));
                }
            }
        }
        MemorySegment contiguous = MemorySegment.ofArray(new float[60]);
        StridedCopy.copy(MemorySegment.ofArray(src), 0, size, dstStride, contiguous, 0, dstStride, 4);
        assertArrayEquals(java.util.Arrays.copyOf(src, 60), contiguous.toArray(ValueLayout.JAVA_FLOAT));
    }
}
