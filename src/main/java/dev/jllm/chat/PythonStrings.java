package dev.jllm.chat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/** The Python {@code str} methods that chat templates call ({@code content.strip()}, {@code name.endswith(".")}, ...). */
final class PythonStrings {

    /** Marks a method this class does not know, so the engine's own lookup goes on. */
    static final Object UNKNOWN = new Object();

    private PythonStrings() {
    }

    /** Python's {@code str.isspace} for one character. */
    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
    }

    static Object call(String s, String method, Object[] args) {
        return switch (method) {
            case "strip" -> strip(s, arg(args, 0), true, true);
            case "lstrip" -> strip(s, arg(args, 0), true, false);
            case "rstrip" -> strip(s, arg(args, 0), false, true);
            case "split" -> split(s, arg(args, 0), args.length > 1 ? ((Number) args[1]).intValue() : -1);
            case "startswith" -> matchesEnd(s, args[0], true);
            case "endswith" -> matchesEnd(s, args[0], false);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT)
                            + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, str(args[0]), str(args[1]), args.length > 2 ? ((Number) args[2]).intValue() : -1);
            case "find" -> (long) s.indexOf(str(args[0]));
            case "rfind" -> (long) s.lastIndexOf(str(args[0]));
            case "count" -> count(s, str(args[0]));
            case "join" -> join(s, args[0]);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(PythonStrings::isSpace);
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
            case "isupper" -> s.chars().anyMatch(Character::isUpperCase) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.chars().anyMatch(Character::isLowerCase) && s.equals(s.toLowerCase(Locale.ROOT));
            default -> UNKNOWN;
        };
    }

    private static String arg(Object[] args, int i) {
        return args.length > i && args[i] != null ? str(args[i]) : null;
    }

    private static String str(Object o) {
        return PythonValues.str(o);
    }

    /** Python's {@code strip}: whitespace, or any of {@code chars}, from the chosen ends. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end && stripped(s.codePointAt(start), chars)) {
                start += Character.charCount(s.codePointAt(start));
            }
        }
        if (right) {
            while (end > start && stripped(s.codePointBefore(end), chars)) {
                end -= Character.charCount(s.codePointBefore(end));
            }
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(cp) >= 0;
    }

    /** Python's {@code split}: by a separator (keeping empty parts), or by runs of whitespace when it is null. */
    static List<Object> split(String s, String sep, int maxSplit) {
        List<Object> parts = new ArrayList<>() {
            @Override
            public boolean add(Object part) {
                JinjaEngine.checkListGrowth(size() + 1L, 1);
                return super.add(part);
            }
        };
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxSplit >= 0 && parts.size() == maxSplit) {
                    parts.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) {
                    j++;
                }
                parts.add(s.substring(i, j));
                i = j;
            }
            return parts;
        }
        if (sep.isEmpty()) {
            throw JinjaEngine.typeError("empty separator");
        }
        int from = 0;
        while (maxSplit < 0 || parts.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) {
                break;
            }
            parts.add(s.substring(from, at));
            from = at + sep.length();
        }
        parts.add(s.substring(from));
        return parts;
    }

    private static boolean matchesEnd(String s, Object affix, boolean start) {
        affix = JinjaEngine.unwrap(affix);
        if (affix instanceof Collection<?> options) {
            for (Object o : options) {
                if (matchesEnd(s, o, start)) {
                    return true;
                }
            }
            return false;
        }
        String a = str(affix);
        return start ? s.startsWith(a) : s.endsWith(a);
    }

    /** Python's {@code title}: a cased character after an uncased one goes upper case, the others lower case. */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            out.appendCodePoint(previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
            previousCased = cased;
        }
        return out.toString();
    }

    private static String replace(String s, String old, String replacement, int count) {
        long matches = Math.min(count(s, old), count < 0 ? Long.MAX_VALUE : count);
        JinjaEngine.checkString(s.length() + matches * Math.max(0, replacement.length() - old.length()));
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (int done = 0; done < count; done++) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            out.append(s, from, at).append(replacement);
            from = at + old.length();
            if (old.isEmpty()) {
                if (from < s.length()) {
                    out.append(s.charAt(from));
                }
                from++;
            }
        }
        if (from <= s.length()) {
            out.append(s.substring(from));
        }
        return out.toString();
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String sep, Object items) {
        items = JinjaEngine.unwrap(items);
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) {
            for (Object o : it) {
                o = JinjaEngine.unwrap(o);
                if (!(o instanceof CharSequence)) {
                    throw JinjaEngine.typeError("sequence item " + parts.size() + ": expected str instance, "
                            + PythonValues.typeName(o) + " found");
                }
                parts.add(o.toString());
            }
        } else if (items instanceof CharSequence cs) {
            cs.codePoints().forEach(cp -> parts.add(Character.toString(cp)));
        } else {
            throw JinjaEngine.typeError("can only join an iterable");
        }
        long size = (long) sep.length() * Math.max(0, parts.size() - 1);
        for (String part : parts) {
            size += part.length();
        }
        JinjaEngine.checkString(size);
        return String.join(sep, parts);
    }
}
