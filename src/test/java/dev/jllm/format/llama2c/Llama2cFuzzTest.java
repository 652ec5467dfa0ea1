package dev.jllm.format.llama2c;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.format.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of llama2.c checkpoints: the legacy header and export versions 1 and 2, the
 * layout their fields imply and its check against the file's size. Corpus in {@code Llama2cFuzzTestInputs/};
 * {@code mvn verify} replays it, {@code bench/fuzz.sh} fuzzes.
 */
public class Llama2cFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class);
    /** Heap per input byte: the header is read into a 256-byte buffer and the tensor views are a few per layer. */
    private static final long BYTES_PER_BYTE = 8;

    /**
     * Tiny valid checkpoints of each version (dim 8, one layer, 4 tokens; shared and unshared classifier) and the
     * headers of the real stories260K files.
     */
    public static FuzzSeeds.Target seeds() throws IOException {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        seeds.put("tiny-legacy-shared.bin", complete(legacy(8, 16, 1, 2, 1, 4, 8)));
        seeds.put("tiny-legacy-unshared.bin", complete(legacy(8, 16, 1, 2, 1, -4, 8)));
        seeds.put("tiny-v1.bin", complete(export(1, 8, 16, 1, 2, 1, 4, 8, true, 0)));
        seeds.put("tiny-v2-unshared.bin", complete(export(2, 8, 16, 1, 2, 1, 4, 8, false, 4)));
        seeds.put("stories260K-header.bin", FuzzSeeds.head("models/stories260K.bin", Llama2cHeader.LEGACY_BYTES));
        seeds.put("stories260K-v1-header.bin", FuzzSeeds.head("models/llama2c-export/stories260K-v1.bin", 256));
        seeds.put("stories260K-v2-header.bin", FuzzSeeds.head("models/llama2c-export/stories260K-v2.bin", 256));
        return new FuzzSeeds.Target(Llama2cFuzzTest.class, "checkpoint", seeds);
    }

    private static byte[] legacy(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen) {
        ByteBuffer b = ByteBuffer.allocate(Llama2cHeader.LEGACY_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(dim).putInt(hidden).putInt(layers).putInt(heads).putInt(kvHeads).putInt(vocab).putInt(seqLen);
        return b.array();
    }

    private static byte[] export(int version, int dim, int hidden, int layers, int heads, int kvHeads, int vocab,
            int seqLen, boolean shared, int groupSize) {
        ByteBuffer b = ByteBuffer.allocate(Llama2cHeader.EXPORT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Llama2cHeader.MAGIC).putInt(version);
        b.putInt(dim).putInt(hidden).putInt(layers).putInt(heads).putInt(kvHeads).putInt(vocab).putInt(seqLen);
        b.put((byte) (shared ? 1 : 0));
        if (version == 2) {
            b.putInt(groupSize);
        }
        return b.array();
    }

    /** The header followed by as many weight bytes (counting up) as the loader says it implies. */
    private static byte[] complete(byte[] header) {
        Path file = FuzzContract.write("seeds/header.bin", header);
        try {
            Llama2cLoader.load(file).close();
            return header;
        } catch (ModelFormatException e) {
            Matcher m = Pattern.compile("implies (\\d+) bytes").matcher(e.getMessage());
            if (!m.find()) {
                throw e;
            }
            byte[] whole = Arrays.copyOf(header, Integer.parseInt(m.group(1)));
            for (int i = header.length; i < whole.length; i++) {
                whole[i] = (byte) (i * 7);
            }
            Llama2cLoader.load(FuzzContract.write("seeds/whole.bin", whole)).close();
            return whole;
        }
    }

    @FuzzTest
    @Timeout(30)
    void checkpoint(byte[] input) {
        FuzzContract.checkModelFile("llama2.c checkpoint", input, "llama2c/model.bin", BYTES_PER_BYTE, OWN,
                Llama2cLoader::looksLikeLlama2c, Llama2cLoader::load);
    }
}
