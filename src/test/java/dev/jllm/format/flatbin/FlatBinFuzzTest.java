package dev.jllm.format.flatbin;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jllm.FuzzContract;
import dev.jllm.FuzzSeeds;
import dev.jllm.format.ModelFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (issue 16) of the flat FP16 binary: its 36-byte header, the sizes it implies and their check
 * against the file. Corpus in {@code FlatBinFuzzTestInputs/}; {@code mvn verify} replays it, {@code bench/fuzz.sh}
 * fuzzes.
 */
public class FlatBinFuzzTest {

    private static final Predicate<Throwable> OWN = FuzzContract.oneOf(ModelFormatException.class);
    /** Heap per input byte: the header is 36 bytes and the tensor views a few per layer of a file that fits them. */
    private static final long BYTES_PER_BYTE = 8;

    /** Tiny valid files (one and two layers, grouped-query and not, a head size other than dim / heads). */
    public static FuzzSeeds.Target seeds() {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        seeds.put("tiny.bin", file(new FlatBinLayout(8, 1, 2, 2, 4, 16, 16, 4, 10000f)));
        seeds.put("tiny-gqa.bin", file(new FlatBinLayout(8, 2, 4, 2, 5, 32, 24, 2, 500000f)));
        seeds.put("tiny-wide-heads.bin", file(new FlatBinLayout(4, 1, 2, 1, 3, 8, 8, 6, 10000f)));
        return new FuzzSeeds.Target(FlatBinFuzzTest.class, "header", seeds);
    }

    private static byte[] file(FlatBinLayout layout) {
        ByteBuffer b = ByteBuffer.allocate((int) layout.fileSize()).order(ByteOrder.LITTLE_ENDIAN);
        layout.writeHeader(b);
        for (int i = FlatBinLayout.HEADER_BYTES; i + 1 < b.capacity(); i += 2) {
            b.putShort(i, Float.floatToFloat16((i % 17 - 8) * 0.125f));
        }
        return b.array();
    }

    @FuzzTest
    @Timeout(30)
    void header(byte[] input) {
        FuzzContract.checkModelFile("flat FP16", input, "flatbin/model.bin", BYTES_PER_BYTE, OWN,
                FlatBinLoader::looksLikeFlatBin, FlatBinLoader::load);
    }
}
