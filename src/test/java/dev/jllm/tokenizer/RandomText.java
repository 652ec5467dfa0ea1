package dev.jllm.tokenizer;

import java.util.Random;

/** Random text for property tests: every kind of character a tokenizer may meet, in short runs. */
final class RandomText {

    private static final String[] FRAGMENTS = {
        " ", "  ", "\n", "\r\n", "\t", "\n\n", " \n ", "'s", "'T", "'ll", "'RE", "'ve", "'M", "'d", "’s", "...",
        "<s>", "</s>", "<unk>", "<|eot_id|>", "<|begin_of_text|>", "<|endoftext|>", "[INST]", "<0x0A>", "▁", "▁▁",
        "Hello", "world", "Once upon a time", "3.14", "1234567", "C++", "e-mail", "naïve", "Ελληνικά", "русский",
        "日本語のテキスト", "中文", "한국어", "العربية", "हिन्दी", "ខ្មែរ", "🦙", "👩‍💻", "🏳️‍🌈", "😀😁", "a\u0301", "e\u0308\u0323",
    };

    private RandomText() {
    }

    /** A string of about {@code length} code points mixing fragments and random characters of many scripts. */
    static String mixed(Random random, int length) {
        StringBuilder text = new StringBuilder();
        while (text.codePointCount(0, text.length()) < length) {
            int kind = random.nextInt(12);
            switch (kind) {
                case 0, 1, 2 -> text.append(FRAGMENTS[random.nextInt(FRAGMENTS.length)]);
                case 3 -> text.append((char) (' ' + random.nextInt(95)));             // printable ASCII
                case 4 -> text.appendCodePoint(0x00A0 + random.nextInt(0x0180));      // Latin-1 and Latin Extended
                case 5 -> text.appendCodePoint(0x0300 + random.nextInt(0x70));        // combining marks
                case 6 -> text.appendCodePoint(0x4E00 + random.nextInt(0x5200));      // CJK ideographs
                case 7 -> text.appendCodePoint(0x1F300 + random.nextInt(0x0300));     // emoji and pictographs
                case 8 -> text.appendCodePoint(random.nextInt(0x20));                 // C0 controls
                case 9 -> text.appendCodePoint(WHITESPACE[random.nextInt(WHITESPACE.length)]);
                case 10 -> text.appendCodePoint(0x0400 + random.nextInt(0x0800));     // Cyrillic to Thaana and more
                default -> text.append(Integer.toString(random.nextInt(100000)));    // digits
            }
        }
        return text.toString();
    }

    /** Like {@link #mixed}, with unpaired surrogates and any BMP or supplementary code point thrown in. */
    static String wild(Random random, int length) {
        StringBuilder text = new StringBuilder(mixed(random, length));
        int extra = 1 + random.nextInt(4);
        for (int i = 0; i < extra; i++) {
            int at = random.nextInt(text.length() + 1);
            // Do not split an existing surrogate pair.
            if (at > 0 && at < text.length() && Character.isLowSurrogate(text.charAt(at))) {
                at--;
            }
            String insert = switch (random.nextInt(4)) {
                case 0 -> String.valueOf((char) (0xD800 + random.nextInt(0x400)));  // lone high surrogate
                case 1 -> String.valueOf((char) (0xDC00 + random.nextInt(0x400)));  // lone low surrogate
                case 2 -> new String(Character.toChars(random.nextInt(0x10000)));    // any BMP char, maybe a surrogate
                default -> new String(Character.toChars(0x10000 + random.nextInt(0x100000)));
            };
            text.insert(at, insert);
        }
        return text.toString();
    }

    /** One character repeated. */
    static String run(String unit, int times) {
        return unit.repeat(times);
    }

    private static final int[] WHITESPACE = {
        ' ', '\t', '\n', '\r', 0x0B, 0x0C, 0x85, 0xA0, 0x1680, 0x2000, 0x2007, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F,
        0x3000, 0x200B, 0xFEFF,
    };
}
