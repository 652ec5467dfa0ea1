package dev.jllm.format.meta;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of Meta's {@code params.json}, read beside the two real model-parallel shards of
 * stories260K (linked into the fuzz directory), so that hyper-parameters which pass the checks go on to split and
 * join real tensors. Corpus in {@code MetaParamsFuzzTestInputs/}; {@code mvn verify} replays it, {@code bench/fuzz.sh}
 * fuzzes.
 */
public class MetaParamsFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class);
    /**
     * Heap per input byte, counting the shards as input: Jackson's tree of a small JSON object, the shards' pickles
     * (a value of a few bytes becomes an object and a memo slot); the joined tensors are copied off the heap.
     */
    private static final long BYTES_PER_BYTE = 64;

    private static Path directory;
    private static long shardBytes;

    public static FuzzSeeds.Target seeds() throws IOException {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        seeds.put("stories260K-params.json", Files.readAllBytes(
                SharedTestData.file("models/torch/stories260K-meta/params.json")));
        seeds.put("llama3-style-params.json", """
                {"dim": 64, "n_layers": 5, "n_heads": 8, "n_kv_heads": 4, "vocab_size": 512, "multiple_of": 4,
                 "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true,
                 "rope_scaling_factor": 8.0, "rope_high_freq_factor": 4.0, "max_seq_len": 2048}
                """.getBytes(StandardCharsets.UTF_8));
        seeds.put("llama2-style-params.json", """
                {"dim": 64, "multiple_of": 4, "n_heads": 8, "n_layers": 5, "norm_eps": 1e-06, "vocab_size": -1,
                 "hidden_dim": 172}
                """.getBytes(StandardCharsets.UTF_8));
        return new FuzzSeeds.Target(MetaParamsFuzzTest.class, "paramsJson", seeds);
    }

    private static synchronized Path directory() {
        if (directory == null) {
            Path params = FuzzContract.write("meta/params.json", new byte[0]);
            directory = params.getParent();
            try {
                for (String shard : new String[] {"consolidated.00.pth", "consolidated.01.pth"}) {
                    Path real = SharedTestData.file("models/torch/stories260K-meta/" + shard).toAbsolutePath();
                    Files.createSymbolicLink(directory.resolve(shard), real);
                    shardBytes += Files.size(real);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return directory;
    }

    @FuzzTest
    @Timeout(30)
    void paramsJson(byte[] input) {
        Path dir = directory();
        FuzzContract.write("meta/params.json", input);
        FuzzContract.check("params.json", input.length + shardBytes, BYTES_PER_BYTE, OWN, () -> {
            try (ModelFile model = MetaCheckpointLoader.load(dir)) {
                FuzzContract.requireSaneConfig(model.format(), model.config());
                model.tensors().values().forEach(t -> t.byteSize());
            }
        });
    }
}
