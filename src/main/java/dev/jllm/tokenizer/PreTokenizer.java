package dev.jllm.tokenizer;

import java.util.Locale;

/**
 * Splits text into the words that byte-level BPE then merges within, hand-written after the regular expressions the
 * models were trained with (as llama.cpp does, to stay linear-time on any input). Character classes are Unicode's:
 * {@code \p{L}} letters, {@code \p{N}} numbers, {@code \s} White_Space.
 */
enum PreTokenizer {

    /**
     * Llama 3: {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
     * \s*[\r\n]+|\s+(?!\S)|\s+}.
     */
    LLAMA3 {
        @Override
        void split(int[] cps, int start, int end, WordSink sink) {
            Cursor c = new Cursor(cps, start, end, sink);
            int pos = start;
            while (pos < end) {
                int cp = cps[pos];
                // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                if (cp == '\'' && pos + 1 < end) {
                    int next = Character.toLowerCase(cps[pos + 1]);
                    if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                        pos = c.emit(pos + 2);
                        continue;
                    }
                    if (pos + 2 < end) {
                        int nextNext = Character.toLowerCase(cps[pos + 2]);
                        if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e')
                                || (next == 'l' && nextNext == 'l')) {
                            pos = c.emit(pos + 3);
                            continue;
                        }
                    }
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (cp != '\r' && cp != '\n' && !isNumber(cp)) {
                    if (isLetter(cp) || c.isLetterAt(pos + 1)) {
                        pos++;
                        while (c.isLetterAt(pos)) {
                            pos++;
                        }
                        pos = c.emit(pos);
                        continue;
                    }
                }
                // \p{N}{1,3}
                if (isNumber(cp)) {
                    int groupStart = pos;
                    while (c.isNumberAt(pos)) {
                        pos++;
                        if (pos - groupStart >= 3) {
                            c.emit(pos);
                            groupStart = pos;
                        }
                    }
                    pos = c.emit(pos);
                    continue;
                }
                // ' '?[^\s\p{L}\p{N}]+[\r\n]*
                int first = cp == ' ' ? pos + 1 : pos;
                if (c.isOtherAt(first)) {
                    pos = first;
                    while (c.isOtherAt(pos)) {
                        pos++;
                    }
                    while (pos < end && (cps[pos] == '\r' || cps[pos] == '\n')) {
                        pos++;
                    }
                    pos = c.emit(pos);
                    continue;
                }
                int spaces = 0;
                int lastLineBreakEnd = -1;
                while (pos + spaces < end && isWhitespace(cps[pos + spaces])) {
                    int s = cps[pos + spaces];
                    if (s == '\r' || s == '\n') {
                        lastLineBreakEnd = pos + spaces + 1;
                    }
                    spaces++;
                }
                // \s*[\r\n]+
                if (lastLineBreakEnd >= 0) {
                    pos = c.emit(lastLineBreakEnd);
                    continue;
                }
                // \s+(?!\S): all but the last space when something follows
                if (spaces > 1 && pos + spaces < end) {
                    pos = c.emit(pos + spaces - 1);
                    continue;
                }
                // \s+
                if (spaces > 0) {
                    pos = c.emit(pos + spaces);
                    continue;
                }
                pos = c.emit(pos + 1);
            }
        }
    },

    /** GPT-2: {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}. */
    GPT2 {
        @Override
        void split(int[] cps, int start, int end, WordSink sink) {
            Cursor c = new Cursor(cps, start, end, sink);
            int pos = start;
            while (pos < end) {
                int cp = cps[pos];
                // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
                if (cp == '\'' && pos + 1 < end) {
                    int next = cps[pos + 1];
                    if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                        pos = c.emit(pos + 2);
                        continue;
                    }
                    if (pos + 2 < end) {
                        int nextNext = cps[pos + 2];
                        if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e')
                                || (next == 'l' && nextNext == 'l')) {
                            pos = c.emit(pos + 3);
                            continue;
                        }
                    }
                }
                int first = cp == ' ' ? pos + 1 : pos;
                // ' '?\p{L}+
                if (c.isLetterAt(first)) {
                    pos = first;
                    while (c.isLetterAt(pos)) {
                        pos++;
                    }
                    pos = c.emit(pos);
                    continue;
                }
                // ' '?\p{N}+
                if (c.isNumberAt(first)) {
                    pos = first;
                    while (c.isNumberAt(pos)) {
                        pos++;
                    }
                    pos = c.emit(pos);
                    continue;
                }
                // ' '?[^\s\p{L}\p{N}]+
                if (c.isOtherAt(first)) {
                    pos = first;
                    while (c.isOtherAt(pos)) {
                        pos++;
                    }
                    pos = c.emit(pos);
                    continue;
                }
                int spaces = 0;
                while (pos + spaces < end && isWhitespace(cps[pos + spaces])) {
                    spaces++;
                }
                // \s+(?!\S)
                if (spaces > 1 && pos + spaces < end) {
                    pos = c.emit(pos + spaces - 1);
                    continue;
                }
                // \s+
                if (spaces > 0) {
                    pos = c.emit(pos + spaces);
                    continue;
                }
                pos = c.emit(pos + 1);
            }
        }
    };

    /** Receives the words of a text, in order, as code point ranges. */
    @FunctionalInterface
    interface WordSink {
        void word(int start, int end);
    }

    /** Calls {@code sink} for each word of {@code cps[start, end)}; the words cover the range exactly. */
    abstract void split(int[] cps, int start, int end, WordSink sink);

    /** The pre-tokenizer a GGUF {@code tokenizer.ggml.pre} names (llama.cpp's groups). */
    static PreTokenizer forName(String name) {
        if (name == null || name.equals("default")) {
            throw new TokenizerException("byte-level BPE without a named pre-tokenizer (tokenizer.ggml.pre '" + name
                    + "': llama.cpp's generic fallback) is not supported (supported: the Llama 3 group such as"
                    + " 'llama-bpe', and 'gpt-2')");
        }
        String key = name.toLowerCase(Locale.ROOT);
        if (TokenizerSpec.LLAMA3_PRE.contains(key)) {
            return LLAMA3;
        }
        return switch (key) {
            case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "gigachat" ->
                GPT2;
            default -> throw new TokenizerException("pre-tokenizer '" + name + "' is not supported (supported: "
                    + "the Llama 3 group such as 'llama-bpe', and 'gpt-2')");
        };
    }

    static boolean isLetter(int cp) {
        return Character.isLetter(cp);
    }

    static boolean isNumber(int cp) {
        int type = Character.getType(cp);
        return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER;
    }

    /** Unicode's White_Space property (which {@link Character#isWhitespace} does not follow). */
    static boolean isWhitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /** Position-checked class tests over one text range, and the emitting of words. */
    private static final class Cursor {
        private final int[] cps;
        private final int end;
        private final WordSink sink;
        private int wordStart;

        Cursor(int[] cps, int start, int end, WordSink sink) {
            this.cps = cps;
            this.end = end;
            this.sink = sink;
            this.wordStart = start;
        }

        boolean isLetterAt(int pos) {
            return pos < end && isLetter(cps[pos]);
        }

        boolean isNumberAt(int pos) {
            return pos < end && isNumber(cps[pos]);
        }

        /** {@code [^\s\p{L}\p{N}]} at {@code pos}, false past the end. */
        boolean isOtherAt(int pos) {
            if (pos >= end) {
                return false;
            }
            int cp = cps[pos];
            return !isWhitespace(cp) && !isLetter(cp) && !isNumber(cp);
        }

        /** Ends the current word at {@code wordEnd} (nothing if empty); returns {@code wordEnd}. */
        int emit(int wordEnd) {
            if (wordEnd > wordStart) {
                sink.word(wordStart, wordEnd);
            }
            wordStart = wordEnd;
            return wordEnd;
        }
    }
}
