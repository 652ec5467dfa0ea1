package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Random Unicode text through every tokenizer: no exception, byte-level BPE gives the text back exactly (UTF-8's
 * version of it when it holds unpaired surrogates; U+DC80..U+DCFF are raw bytes, see {@link RawUtf8}), streaming
 * decoding gives what whole decoding gives, and the
 * hand-written pre-tokenizers split as the regular expressions they stand for (run by java.util.regex).
 */
class TokenizerPropertyTest {

    private static final int ROUNDS = 400;

    @Test
    void byteLevelBpeRoundTripsAnyText() {
        for (String file : List.of(SharedVocabs.LLAMA3, SharedVocabs.GPT2)) {
            Tokenizer tokenizer = SharedVocabs.tokenizer(file);
            Random random = new Random(file.hashCode());
            for (int round = 0; round < ROUNDS; round++) {
                String text = round % 2 == 0 ? RandomText.mixed(random, 1 + random.nextInt(80))
                        : RandomText.wild(random, 1 + random.nextInt(80));
                String expected = new String(RawUtf8.encode(text), StandardCharsets.UTF_8);
                int[] ids = tokenizer.encode(text, false, false);
                String decoded = tokenizer.decode(ids);
                assertEquals(expected, decoded, () -> file + ": " + escape(text));
                assertEquals(decoded, streamed(tokenizer, ids), file);
                assertParsedSpecialTokensCutTheText(file, text, expected);
            }
        }
    }

    /**
     * With special tokens parsed, every token still renders as the text it came from (a control token as its own
     * text, where decoding gives nothing), no control token's text is left between them, the special tokens' text is
     * gone from the decoded text, and each stretch of text between two control tokens is tokenized as it would be
     * alone.
     */
    private static void assertParsedSpecialTokensCutTheText(String file, String text, String expected) {
        Tokenizer tokenizer = SharedVocabs.tokenizer(file);
        int[] types = SharedVocabs.spec(file).tokenTypes();
        List<String> controlTexts = new ArrayList<>();
        for (int id = 0; id < types.length; id++) {
            if (types[id] == TokenizerSpec.TYPE_CONTROL) {
                controlTexts.add(tokenizer.piece(id));
            }
        }
        int[] ids = tokenizer.encode(text, false, true);
        assertEquals(expected, rendered(tokenizer, ids), () -> file + " parsed: " + escape(text));
        StringBuilder withoutControl = new StringBuilder();
        List<Integer> stretch = new ArrayList<>();
        for (int i = 0; i <= ids.length; i++) {
            if (i < ids.length && types[ids[i]] != TokenizerSpec.TYPE_CONTROL) {
                stretch.add(ids[i]);
                continue;
            }
            int[] stretchIds = stretch.stream().mapToInt(Integer::intValue).toArray();
            String stretchText = rendered(tokenizer, stretchIds);
            withoutControl.append(stretchText);
            for (String special : controlTexts) {
                assertFalse(stretchText.contains(special), () -> file + ": " + special + " left in " + escape(text));
            }
            if (expected.equals(text)) { // text whose UTF-8 reads back as itself (no lone surrogates)
                assertArrayEquals(tokenizer.encode(stretchText, false, false), stretchIds,
                        () -> file + ": '" + escape(stretchText) + "' in " + escape(text));
            }
            stretch.clear();
        }
        assertEquals(withoutControl.toString(), tokenizer.decode(ids), () -> file + " parsed: " + escape(text));
        assertEquals(tokenizer.decode(ids), streamed(tokenizer, ids), file);
    }

    private static String rendered(Tokenizer tokenizer, int[] ids) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            bytes.writeBytes(tokenizer.renderBytes(id));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void sentencePieceHandlesAnyText() {
        for (String file : List.of(SharedVocabs.LLAMA_SPM, SharedVocabs.PHI3, SharedVocabs.LLAMA2_MODEL)) {
            Tokenizer tokenizer = SharedVocabs.tokenizer(file);
            Random random = new Random(file.hashCode());
            for (int round = 0; round < ROUNDS; round++) {
                String text = round % 2 == 0 ? RandomText.mixed(random, 1 + random.nextInt(80))
                        : RandomText.wild(random, 1 + random.nextInt(80));
                int[] ids = tokenizer.encode(text, true, round % 3 == 0);
                String decoded = tokenizer.decode(ids);
                assertEquals(decoded, streamed(tokenizer, ids), file);
                // SentencePiece gives the text back unless it holds '▁' (which decodes to a space), special-token
                // text (parsed, or a user-defined token), or unpaired surrogates.
                String expected = new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
                if (round % 3 != 0 && !text.contains("▁") && expected.equals(text)
                        && !(file.equals(SharedVocabs.PHI3) && text.contains("</s>"))) {
                    assertEquals(text, decoded, () -> file + ": " + escape(text));
                }
            }
        }
    }

    @Test
    void longRunsOfOneCharacter() {
        String[] units = {"a", " ", "\n", "3", "!", "🦙", "日", "\u0301", "\t ", "ab", "\uD800"};
        for (String file : List.of(SharedVocabs.LLAMA3, SharedVocabs.GPT2, SharedVocabs.LLAMA_SPM)) {
            Tokenizer tokenizer = SharedVocabs.tokenizer(file);
            for (String unit : units) {
                String text = RandomText.run(unit, 20_000);
                int[] ids = tokenizer.encode(text, false, false);
                assertTrue(ids.length > 0);
                if (!file.equals(SharedVocabs.LLAMA_SPM)) {
                    assertEquals(new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8),
                            tokenizer.decode(ids), file + " " + escape(unit));
                }
            }
        }
    }

    @Test
    void llama3DigitsComeInGroupsOfAtMostThree() {
        Tokenizer llama3 = SharedVocabs.tokenizer(SharedVocabs.LLAMA3);
        String digits = "12345678901234567890";
        List<String> pieces = new ArrayList<>();
        for (int id : llama3.encode(digits, false, false)) {
            pieces.add(new String(llama3.decodeBytes(id, Tokenizer.NO_TOKEN), StandardCharsets.UTF_8));
        }
        assertEquals(List.of("123", "456", "789", "012", "345", "678", "90"), pieces);
        // Other scripts' digits too: Arabic-Indic, Devanagari.
        assertEquals(List.of("٠١٢", "٣٤"), words(PreTokenizer.LLAMA3, "٠١٢٣٤"));
        assertEquals(List.of("१२३", "४"), words(PreTokenizer.LLAMA3, "१२३४"));
    }

    @Test
    void preTokenizersSplitAsTheirPatterns() {
        // The patterns as Hugging Face's tokenizer.json and GPT-2's encoder.py write them; \s is White_Space.
        Pattern llama3 = Pattern.compile(HfTokenizerJsonLoader.LLAMA3_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);
        Pattern gpt2 = Pattern.compile(HfTokenizerJsonLoader.GPT2_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);
        Random random = new Random(11);
        for (int round = 0; round < 3000; round++) {
            // Unicode case folding would let (?i:'s) match "'ſ" and "'K" (Kelvin); llama.cpp lowercases instead.
            String text = RandomText.mixed(random, 1 + random.nextInt(40)).replace('ſ', 's').replace('\u212A', 'k');
            assertEquals(regexWords(llama3, text), words(PreTokenizer.LLAMA3, text), () -> escape(text));
            assertEquals(regexWords(gpt2, text), words(PreTokenizer.GPT2, text), () -> escape(text));
        }
        assertEquals(List.of("Hello", ",", " y", "'all", "!", " I", "'VE", "  ", " been"),
                words(PreTokenizer.LLAMA3, "Hello, y'all! I'VE   been"));
        assertEquals(List.of("Hello", ",", " y", "'", "all", "!", " I", "'", "VE", "  ", " been"),
                words(PreTokenizer.GPT2, "Hello, y'all! I'VE   been"));
    }

    /** A 1 MB text encodes in well under a few seconds (printed, not asserted: timing is the benchmark's job). */
    @Test
    void oneMegabyteOfText() {
        String text = TokenizerBenchmark.megabyteOfText(new Random(3));
        for (String file : List.of(SharedVocabs.LLAMA3, SharedVocabs.LLAMA_SPM)) {
            Tokenizer tokenizer = SharedVocabs.tokenizer(file);
            long start = System.nanoTime();
            int[] ids = tokenizer.encode(text, true, false);
            long nanos = System.nanoTime() - start;
            System.out.printf("%s: 1 MB (%d chars) -> %d tokens in %.0f ms%n", file, text.length(), ids.length,
                    nanos / 1e6);
            assertTrue(ids.length > 100_000);
            if (file.equals(SharedVocabs.LLAMA3)) {
                assertEquals(text, tokenizer.decode(ids));
            }
        }
    }

    static List<String> words(PreTokenizer preTokenizer, String text) {
        int[] cps = text.codePoints().toArray();
        List<String> words = new ArrayList<>();
        preTokenizer.split(cps, 0, cps.length, (start, end) -> words.add(new String(cps, start, end - start)));
        return words;
    }

    /** The pieces of a Split with behaviour Isolated: matches, and the gaps between them. */
    private static List<String> regexWords(Pattern pattern, String text) {
        List<String> words = new ArrayList<>();
        Matcher matcher = pattern.matcher(text);
        int last = 0;
        while (matcher.find()) {
            if (matcher.start() > last) {
                words.add(text.substring(last, matcher.start()));
            }
            if (matcher.end() > matcher.start()) {
                words.add(matcher.group());
            }
            last = matcher.end();
        }
        if (last < text.length()) {
            words.add(text.substring(last));
        }
        return words;
    }

    private static String streamed(Tokenizer tokenizer, int[] ids) {
        TokenStreamDecoder decoder = new TokenStreamDecoder(tokenizer);
        StringBuilder text = new StringBuilder();
        for (int id : ids) {
            text.append(decoder.accept(id));
        }
        return text.append(decoder.flush()).toString();
    }

    static String escape(String text) {
        StringBuilder out = new StringBuilder();
        text.chars().forEach(c -> out.append(c < 0x20 || c > 0x7E ? String.format("\\u%04X", c) : String.valueOf((char) c)));
        return out.toString();
    }
}
