package dev.jllm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes the seed inputs of the fuzz targets into their corpus directories under {@code src/test/resources} (Jazzer's
 * layout: {@code <package>/<Class>Inputs/<method>/}), from the small real files in ../shared (large ones cut down:
 * their head, or their vocabulary trimmed to a few hundred tokens) and from the tests' own tiny files. Run by
 * {@code bench/fuzz.sh seeds}; the seeds are committed, so a normal build never runs this.
 */
public final class FuzzSeeds {

    /** One target's seeds: its class, its method, and the seeds by file name. */
    public record Target(Class<?> fuzzTest, String method, Map<String, byte[]> seeds) {
    }

    private FuzzSeeds() {
    }

    public static void main(String[] args) throws IOException {
        Path resources = Path.of(args.length > 0 ? args[0] : "src/test/resources");
        for (Target t : targets()) {
            Path dir = resources.resolve(t.fuzzTest().getPackageName().replace('.', '/'))
                    .resolve(t.fuzzTest().getSimpleName() + "Inputs").resolve(t.method());
            Files.createDirectories(dir);
            long total = 0;
            for (Map.Entry<String, byte[]> seed : t.seeds().entrySet()) {
                Files.write(dir.resolve("seed-" + seed.getKey()), seed.getValue());
                total += seed.getValue().length;
            }
            System.out.printf("%-60s %3d seeds, %8d bytes%n", t.fuzzTest().getSimpleName() + "#" + t.method(),
                    t.seeds().size(), total);
        }
    }

    static java.util.List<Target> targets() throws IOException {
        java.util.List<Target> all = new java.util.ArrayList<>();
        all.add(dev.jllm.format.gguf.GgufFuzzTest.seeds());
        all.addAll(dev.jllm.format.safetensors.SafetensorsFuzzTest.seeds());
        all.add(dev.jllm.format.llama2c.Llama2cFuzzTest.seeds());
        all.add(dev.jllm.format.flatbin.FlatBinFuzzTest.seeds());
        all.addAll(dev.jllm.tokenizer.TokenizerFilesFuzzTest.seeds());
        all.add(dev.jllm.chat.ChatTemplateFuzzTest.seeds());
        all.add(dev.jllm.format.pytorch.TorchCheckpointFuzzTest.seeds());
        all.add(dev.jllm.format.meta.MetaParamsFuzzTest.seeds());
        all.add(dev.jllm.format.lumi.LumiFuzzTest.seeds());
        all.add(dev.jllm.server.RequestBodyFuzzTest.seeds());
        return all;
    }

    /** The first {@code n} bytes of a file in ../shared. */
    public static byte[] head(String sharedFile, int n) throws IOException {
        byte[] all = Files.readAllBytes(SharedTestData.file(sharedFile));
        return java.util.Arrays.copyOf(all, Math.min(n, all.length));
    }
}
