package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Repacking;
import dev.jllm.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Models repack their Q4_0 and Q8_0 matrices at load unless asked not to ({@code --no-repack}), and both ways give
 * the same logits within the bound of the summation orders. The golden tests hold the repacked default to
 * llama.cpp's logits; the kernels' own bounds are in {@code RepackedKernelTest}.
 */
class RepackedModelTest {

    @ParameterizedTest
    @CsvSource({"stories260K-q8_0-mixed.gguf, Q8_0", "stories260K-q4_0-mixed.gguf, Q4_0"})
    void repackingIsOnByDefaultOffOnRequestAndChangesOnlyTheRounding(String file, GgmlType type) {
        long expectedBytes = 0;
        int expectedTensors = 0;
        try (ModelFile f = ModelLoaders.open(SharedData.model(file))) {
            for (Tensor t : f.tensors().values()) {
                // the matrices of the forward pass (a tied embedding is the output matrix and counts too)
                boolean matrix = t.name().startsWith("blk.") && t.shape().length == 2
                        || t.name().equals("output.weight")
                        || t.name().equals("token_embd.weight") && f.tensorOrNull("output.weight") == null;
                if (matrix && Repacking.applies(t)) {
                    expectedBytes += Repacking.bytes(t);
                    expectedTensors++;
                }
            }
        }
        assertTrue(expectedTensors > 0, file + " has " + type + " matrices");
        int[] prompt = {1, 403, 407, 261, 378, 260, 435, 306, 410, 283, 404, 17, 99};
        float[] repackedLogits;
        float[] directLogits;
        try (Model repacked = Model.load(SharedData.model(file), null)) {
            var summary = repacked.repackSummary();
            assertNull(summary.skipped());
            assertEquals(expectedTensors, summary.tensors());
            assertEquals(expectedBytes, summary.bytes());
            repackedLogits = repacked.newSession(SessionOptions.defaults(64)).append(prompt);
        }
        try (Model direct = Model.load(SharedData.model(file), null, false)) {
            assertEquals(0, direct.repackSummary().tensors());
            directLogits = direct.newSession(SessionOptions.defaults(64)).append(prompt);
        }
        // Both paths are within 6e-6 of llama.cpp's logits after its prompts (LlamaCppGoldenTest); after this short
        // prompt they differ by a few float roundings of logits of magnitude ~10, far below 1e-3.
        double worst = 0;
        for (int i = 0; i < repackedLogits.length; i++) {
            worst = Math.max(worst, Math.abs(repackedLogits[i] - directLogits[i]));
        }
        assertTrue(worst < 1e-3, file + ": repacked and direct logits differ by " + worst);
    }
}
