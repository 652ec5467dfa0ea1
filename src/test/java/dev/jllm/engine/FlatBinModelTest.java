package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.format.flatbin.FlatBinWriter;
import dev.jllm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A flat FP16 binary written from the F32 model runs through the same forward pass: its weights are the F32 weights
 * rounded to FP16, and its logits stay within what that rounding explains.
 */
class FlatBinModelTest {

    private static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

    @Test
    void flatBinaryRunsAndStaysWithinFp16RoundingOfTheF32Model(@TempDir Path dir) throws IOException {
        Path flat = dir.resolve("stories260K-f16.bin");
        try (ModelFile source = ModelLoaders.open(SharedData.model("stories260K.bin"))) {
            FlatBinWriter.write(source, flat);
        }
        try (Model f32 = Model.load(SharedData.model("stories260K.bin"), SharedData.model("tok512.bin"));
                Model f16 = Model.load(flat, SharedData.model("tok512.bin"))) {
            assertEquals("flat FP16", f16.file().format());
            // bit-exact: every weight is the FP16 rounding of the F32 weight
            for (Tensor t : f32.file().tensors().values()) {
                float[] expected = t.toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = Float.float16ToFloat(Float.floatToFloat16(expected[i]));
                }
                assertArrayEquals(expected, f16.file().tensor(t.name()).toFloatArray(), t.name());
            }
            float[] a = f32.newSession(SessionOptions.defaults(64)).appendAll(PROMPT);
            float[] b = f16.newSession(SessionOptions.defaults(64)).appendAll(PROMPT);
            double worst = 0;
            double scale = 0;
            for (int i = 0; i < a.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] - b[i]));
                scale = Math.max(scale, Math.abs(a[i]));
            }
            // FP16 keeps 11 significant bits (relative rounding 2^-12 ~ 2.4e-4 per weight, activations rounded the
            // same way in the F16 kernel); through 5 layers the logits move by a few times that, relative to their
            // range; 2e-3 of the largest logit is a generous but meaningful bound (a wrong layout is off by whole units).
            assertTrue(worst < 2e-3 * scale, "largest logit difference " + worst + " with logits up to " + scale);
            assertTrue(worst > 0, "the FP16 model is a different model: some logit must move");
            assertEquals(Generator.generate(f32, f32.newSession(), "Once upon a time", GenerationOptions.greedy(40), null).text(),
                    Generator.generate(f16, f16.newSession(), "Once upon a time", GenerationOptions.greedy(40), null).text());
        }
    }
}
