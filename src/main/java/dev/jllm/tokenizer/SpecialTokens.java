package dev.jllm.tokenizer;

import static dev.jllm.tokenizer.TokenizerSpec.TYPE_CONTROL;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_UNKNOWN;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_USER_DEFINED;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Cuts the texts of special tokens out of a text before the rest is tokenized, as llama.cpp's
 * {@code tokenizer_st_partition} does: control, user-defined and unknown tokens, longest text (in UTF-8 bytes) first,
 * leftmost first. User-defined tokens are always matched; control and unknown tokens only when parsing special tokens
 * (so untrusted text cannot smuggle in {@code <|eot_id|>}). A token with a strip flag swallows the ASCII whitespace
 * next to it.
 */
final class SpecialTokens {

    /** A stretch of text {@code [start, end)} (token -1) or a special token. */
    record Fragment(int start, int end, int token) {
        boolean isText() {
            return token < 0;
        }
    }

    private final String[] texts;
    private final int[] types;
    private final int[] stripFlags;
    /** Candidate ids in matching order. */
    private final int[] ids;

    SpecialTokens(String[] texts, int[] types, int[] stripFlags) {
        this.texts = texts;
        this.types = types;
        this.stripFlags = stripFlags;
        List<Integer> special = new ArrayList<>();
        for (int id = 0; id < texts.length; id++) {
            int type = types[id];
            if ((type == TYPE_CONTROL || type == TYPE_USER_DEFINED || type == TYPE_UNKNOWN) && !texts[id].isEmpty()) {
                special.add(id);
            }
        }
        special.sort(Comparator.comparingInt((Integer id) -> -utf8Length(texts[id])).thenComparingInt(id -> id));
        ids = special.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /** The text split into text fragments and special tokens, in order; no fragment is empty. */
    List<Fragment> partition(String text, boolean parseSpecial) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.isEmpty()) {
            return fragments;
        }
        fragments.add(new Fragment(0, text.length(), -1));
        for (int id : ids) {
            if (!parseSpecial && (types[id] == TYPE_CONTROL || types[id] == TYPE_UNKNOWN)) {
                continue;
            }
            String special = texts[id];
            int strip = stripFlags != null ? stripFlags[id] : 0;
            List<Fragment> split = null;
            for (int i = 0; i < fragments.size(); i++) {
                Fragment fragment = fragments.get(i);
                int match = fragment.isText() ? text.indexOf(special, fragment.start, fragment.end) : -1;
                if (match < 0) {
                    if (split != null) {
                        split.add(fragment);
                    }
                    continue;
                }
                if (split == null) {
                    split = new ArrayList<>(fragments.subList(0, i));
                }
                int from = fragment.start;
                while (match >= 0) {
                    int leftEnd = match;
                    if ((strip & TokenizerSpec.STRIP_LEFT) != 0) {
                        while (leftEnd > from && isAsciiSpace(text.charAt(leftEnd - 1))) {
                            leftEnd--;
                        }
                    }
                    if (leftEnd > from) {
                        split.add(new Fragment(from, leftEnd, -1));
                    }
                    split.add(new Fragment(match, match + special.length(), id));
                    from = match + special.length();
                    if ((strip & TokenizerSpec.STRIP_RIGHT) != 0) {
                        while (from < fragment.end && isAsciiSpace(text.charAt(from))) {
                            from++;
                        }
                    }
                    match = from < fragment.end ? text.indexOf(special, from, fragment.end) : -1;
                }
                if (from < fragment.end) {
                    split.add(new Fragment(from, fragment.end, -1));
                }
            }
            if (split != null) {
                fragments = split;
            }
        }
        return fragments;
    }

    /** C's {@code isspace} in the "C" locale, which llama.cpp uses for stripping. */
    static boolean isAsciiSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }
}
