package dev.jllm.format.safetensors;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.SharedTestData;
import dev.jllm.format.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of what a Hugging Face model directory holds besides the weights' bytes: a
 * {@code .safetensors} file (its 8-byte header length, its JSON header, the coverage of the data buffer) and
 * {@code config.json}. Corpora in {@code SafetensorsFuzzTestInputs/}; {@code mvn verify} replays them,
 * {@code bench/fuzz.sh} fuzzes.
 */
public class SafetensorsFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class);
    /**
     * Heap per input byte: Jackson's tree holds each JSON value as a node (a one-digit number, two bytes with its
     * comma, becomes a 16-byte node and an 8-byte list slot), and the header's entries become records and maps.
     */
    private static final long BYTES_PER_BYTE = 48;

    /** The real shards' headers with their data cut to nothing, and a small file of the unit tests. */
    public static List<FuzzSeeds.Target> seeds() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("unit-test.safetensors", SafetensorsFileTest.file(SafetensorsFileTest.HEADER, SafetensorsFileTest.DATA));
        for (String dtype : new String[] {"bf16", "f16"}) {
            for (int shard = 1; shard <= 2; shard++) {
                String name = "model-0000" + shard + "-of-00002.safetensors";
                byte[] whole = Files.readAllBytes(SharedTestData.file(
                        "models/hf-transformers/stories260K-" + dtype + "/" + name));
                long headerLength = java.nio.ByteBuffer.wrap(whole).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
                files.put(dtype + "-" + name.replace(".safetensors", "-header.safetensors"),
                        java.util.Arrays.copyOf(whole, (int) (8 + headerLength)));
            }
        }
        Map<String, byte[]> configs = new LinkedHashMap<>();
        for (String dtype : new String[] {"bf16", "f16"}) {
            configs.put(dtype + "-config.json", Files.readAllBytes(SharedTestData.file(
                    "models/hf-transformers/stories260K-" + dtype + "/config.json")));
        }
        configs.put("llama3-rope-scaling.json", """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 8,
                 "intermediate_size": 172, "vocab_size": 512, "max_position_embeddings": 131072,
                 "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": true,
                 "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
                """.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        configs.put("transformers5-rope-parameters.json", """
                {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 5,
                 "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 172, "vocab_size": 512,
                 "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}, "attention_bias": false}
                """.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return List.of(new FuzzSeeds.Target(SafetensorsFuzzTest.class, "safetensorsFile", files),
                new FuzzSeeds.Target(SafetensorsFuzzTest.class, "configJson", configs));
    }

    @FuzzTest
    @Timeout(30)
    void safetensorsFile(byte[] input) {
        Path file = FuzzContract.write("safetensors/model.safetensors", input);
        FuzzContract.check("safetensors", input.length, BYTES_PER_BYTE, OWN, () -> {
            SafetensorsFile.looksLikeSafetensors(file);
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile st = SafetensorsFile.open(file, arena);
                for (SafetensorsFile.Entry e : st.tensors().values()) {
                    st.slice(e);
                    e.elementCount();
                }
            }
        });
    }

    @FuzzTest
    @Timeout(30)
    void configJson(byte[] input) {
        Path file = FuzzContract.write("hf-config/config.json", input);
        FuzzContract.check("config.json", input.length, BYTES_PER_BYTE, OWN,
                () -> FuzzContract.requireSaneConfig("config.json", HfModelLoader.config(file, HfModelLoader.readJson(file))));
    }
}
