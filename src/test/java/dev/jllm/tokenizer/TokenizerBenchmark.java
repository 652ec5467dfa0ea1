package dev.jllm.tokenizer;

import java.util.List;
import java.util.Random;

/**
 * Encoding speed on 1 MB of mixed text (prose, code, several scripts, emoji, long runs), per vocabulary. Run with
 * {@code java -cp target/classes:target/test-classes:... dev.jllm.tokenizer.TokenizerBenchmark [repeats]} from the
 * project directory (the vocabularies are read from ../shared).
 */
public final class TokenizerBenchmark {

    private TokenizerBenchmark() {
    }

    /** About 1 MB (UTF-8) of text: mostly English prose, with every other kind of text in between. */
    static String megabyteOfText(Random random) {
        String prose = SharedData.text("golden/ppl_text.txt");
        StringBuilder text = new StringBuilder();
        while (text.length() < 900_000) {
            switch (random.nextInt(6)) {
                case 0 -> text.append(RandomText.mixed(random, 200));
                case 1 -> text.append(RandomText.run(random.nextBoolean() ? " " : "=", 1 + random.nextInt(3000)));
                default -> text.append(prose);
            }
        }
        return text.toString();
    }

    public static void main(String[] args) {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        String text = megabyteOfText(new Random(3));
        int bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        for (String file : List.of(SharedVocabs.LLAMA3, SharedVocabs.GPT2, SharedVocabs.LLAMA_SPM)) {
            long loadStart = System.nanoTime();
            Tokenizer tokenizer = SharedVocabs.tokenizer(file);
            System.out.printf("%s: loaded in %.0f ms%n", file, (System.nanoTime() - loadStart) / 1e6);
            for (int r = 0; r < repeats; r++) {
                long start = System.nanoTime();
                int[] ids = tokenizer.encode(text, false, false);
                long nanos = System.nanoTime() - start;
                System.out.printf("  encode %d bytes -> %d tokens: %.0f ms (%.1f MB/s)%n", bytes, ids.length,
                        nanos / 1e6, bytes / (nanos / 1e9) / 1e6);
            }
        }
    }
}
