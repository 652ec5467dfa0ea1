package dev.jllm.chat;

import java.util.Set;

/**
 * How deeply a template nests, measured on its source before jinjava parses it: jinjava's parser recurses on nesting
 * (20,000 nested {@code if} blocks overflow the stack) and slows down faster than linearly with it (3,000 nested
 * parentheses take 20 s). Within a tag, each open bracket and each filter ({@code |}, which jinjava turns into a
 * nested call) counts one level; across tags, each open block does.
 */
final class TemplateNesting {

    private static final Set<String> BLOCK_TAGS = Set.of("if", "for", "macro", "call", "filter", "with", "block",
            "autoescape", "generation", "ifchanged", "unless");

    private TemplateNesting() {
    }

    /** What exceeds {@code max} levels, or null when nothing does. */
    static String exceeded(String source, int max) {
        int blocks = 0;
        int i = 0;
        int n = source.length();
        while (i < n) {
            int open = source.indexOf('{', i);
            if (open < 0 || open + 1 >= n) {
                return null;
            }
            char kind = source.charAt(open + 1);
            if (kind == '#') {
                int end = source.indexOf("#}", open + 2);
                if (end < 0) {
                    return null;
                }
                i = end + 2;
                continue;
            }
            if (kind != '{' && kind != '%') {
                i = open + 1;
                continue;
            }
            Tag tag = scanTag(source, open + 2, kind == '{' ? '}' : '%');
            if (tag.levels > max) {
                return "a tag at line " + line(source, open) + " nests " + tag.levels + " levels deep";
            }
            i = tag.end;
            if (kind == '%') {
                String name = tagName(source, open + 2, tag.end);
                if (name.equals("raw")) {
                    int end = source.indexOf("endraw", tag.end);
                    if (end < 0) {
                        return null;
                    }
                    i = end;
                } else if (BLOCK_TAGS.contains(name) || name.equals("set") && tag.blockSet) {
                    if (++blocks > max) {
                        return "blocks nest " + blocks + " deep at line " + line(source, open);
                    }
                } else if (name.startsWith("end")) {
                    blocks = Math.max(0, blocks - 1);
                }
            }
        }
        return null;
    }

    /** A tag's end (after its closing delimiter), nesting levels, and for {@code set}, whether it has no {@code =}. */
    private record Tag(int end, int levels, boolean blockSet) {
    }

    private static Tag scanTag(String s, int from, char closer) {
        int depth = 0;
        int maxDepth = 0;
        int filters = 0;
        boolean assignment = false;
        int i = from;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(s, i);
                continue;
            }
            if (depth <= 0 && c == closer && i + 1 < n && s.charAt(i + 1) == '}') {
                return new Tag(i + 2, maxDepth + filters, !assignment);
            }
            switch (c) {
                case '(', '[', '{' -> maxDepth = Math.max(maxDepth, ++depth);
                case ')', ']', '}' -> depth--;
                case '|' -> filters++;
                case '=' -> {
                    if (depth <= 0) {
                        assignment = true;
                    }
                }
                default -> { }
            }
            i++;
        }
        return new Tag(n, maxDepth + filters, !assignment);
    }

    private static int skipString(String s, int start) {
        char quote = s.charAt(start);
        int i = start + 1;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\\') {
                i += 2;
            } else if (c == quote) {
                return i + 1;
            } else {
                i++;
            }
        }
        return s.length();
    }

    private static String tagName(String s, int from, int to) {
        int i = from;
        while (i < to && (s.charAt(i) == '-' || s.charAt(i) == '+' || Character.isWhitespace(s.charAt(i)))) {
            i++;
        }
        int start = i;
        while (i < to && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) {
            i++;
        }
        return s.substring(start, i);
    }

    private static int line(String s, int index) {
        int line = 1;
        for (int i = 0; i < index; i++) {
            if (s.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }
}
