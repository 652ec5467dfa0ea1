package dev.jllm.format.pytorch;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.meta.TorchCheckpointLoader;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of PyTorch checkpoints ({@code torch.save}'s zip): the zip's directories and
 * local headers, the pickle machine (opcodes, memo, globals, persistent ids), storages and tensor views, and the
 * training checkpoint's {@code model_args}. Corpus in {@code TorchCheckpointFuzzTestInputs/}; {@code mvn verify}
 * replays it, {@code bench/fuzz.sh} fuzzes.
 */
public class TorchCheckpointFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class);
    /**
     * Heap per input byte: a pickled value of a few bytes becomes a Java object and a stack or memo slot; tensors are
     * copied off the heap.
     */
    private static final long BYTES_PER_BYTE = 64;

    /**
     * The tests' tiny training checkpoint (plain and zip64), and the pickle of the real stories260K.pt in an archive
     * of its own (its storages left out: the pickle is what is worth mutating).
     */
    public static FuzzSeeds.Target seeds() throws IOException {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        seeds.put("tiny.pt", TinyCheckpoint.bytes());
        seeds.put("tiny-zip64.pt", TinyCheckpoint.zip(TinyCheckpoint.pickle(TinyCheckpoint.specs()),
                TorchZipWriter.Lie.NONE).zip64().toBytes());
        try (ZipFile zip = new ZipFile(SharedTestData.file("models/torch/stories260K.pt").toFile())) {
            var entry = zip.stream().filter(e -> e.getName().endsWith("/data.pkl")).findFirst().orElseThrow();
            byte[] pickle = zip.getInputStream(entry).readAllBytes();
            seeds.put("stories260K-pickle-only.pt", TorchZipWriter.checkpoint("stories260K", pickle).toBytes());
        }
        return new FuzzSeeds.Target(TorchCheckpointFuzzTest.class, "checkpoint", seeds);
    }

    @FuzzTest
    @Timeout(30)
    void checkpoint(byte[] input) {
        FuzzContract.checkModelFile("PyTorch checkpoint", input, "pytorch/model.pt", BYTES_PER_BYTE, OWN,
                TorchCheckpointLoader::isTorchCheckpoint, TorchCheckpointLoader::load);
    }
}
