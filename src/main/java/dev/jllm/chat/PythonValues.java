package dev.jllm.chat;

import java.math.BigDecimal;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * Python's text forms of template values: {@code json.dumps} (as Hugging Face's {@code tojson} calls it, with
 * {@code ensure_ascii=False}) and {@code str()}/{@code repr()}, so rendered prompts match Python byte for byte.
 */
final class PythonValues {

    private PythonValues() {
    }

    /**
     * {@code json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False)}: separators {@code ", "} and
     * {@code ": "} on one line, {@code ","} and {@code ": "} with an indent. {@code indent} is null (one line), a
     * number of spaces, or the indent string itself.
     */
    static String toJson(Object value, Object indent) {
        String unit = null;
        if (indent instanceof Number n) {
            long width = Math.max(0, Math.min(Integer.MAX_VALUE, n.longValue()));
            JinjaEngine.checkString(width);
            unit = " ".repeat((int) width);
        } else if (indent != null) {
            unit = indent.toString();
        }
        StringBuilder out = new StringBuilder();
        writeJson(out, value, unit, 0);
        JinjaEngine.checkString(out.length());
        return out.toString();
    }

    private static void writeJson(StringBuilder out, Object value, String unit, int depth) {
        value = JinjaEngine.unwrap(value);
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (value instanceof Number n) {
            out.append(number(n, true));
        } else if (value instanceof CharSequence s) {
            jsonString(out, s.toString());
        } else if (value instanceof JinjaEngine.Generator) {
            throw JinjaEngine.typeError("Object of type generator is not JSON serializable");
        } else if (value instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) {
                    out.append(unit == null ? ", " : ",");
                }
                first = false;
                newline(out, unit, depth + 1);
                jsonString(out, jsonKey(e.getKey()));
                out.append(": ");
                writeJson(out, e.getValue(), unit, depth + 1);
            }
            newline(out, unit, depth);
            out.append('}');
        } else if (value instanceof Collection<?> || value instanceof Object[]) {
            Iterator<?> it = value instanceof Collection<?> c ? c.iterator() : java.util.Arrays.asList((Object[]) value).iterator();
            if (!it.hasNext()) {
                out.append("[]");
                return;
            }
            out.append('[');
            boolean first = true;
            while (it.hasNext()) {
                if (!first) {
                    out.append(unit == null ? ", " : ",");
                }
                first = false;
                newline(out, unit, depth + 1);
                writeJson(out, it.next(), unit, depth + 1);
            }
            newline(out, unit, depth);
            out.append(']');
        } else {
            throw JinjaEngine.typeError("Object of type " + typeName(value) + " is not JSON serializable");
        }
    }

    private static String jsonKey(Object key) {
        key = JinjaEngine.unwrap(key);
        if (key == null) {
            return "null";
        }
        if (key instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (key instanceof Number n) {
            return number(n, true);
        }
        return key.toString();
    }

    private static void newline(StringBuilder out, String unit, int depth) {
        if (unit != null) {
            JinjaEngine.checkGrowingString(out.length() + 1L + (long) unit.length() * depth);
            out.append('\n');
            out.append(unit.repeat(depth));
        }
    }

    /** A JSON string literal as Python writes it with {@code ensure_ascii=False}. */
    private static void jsonString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** Python's {@code str(value)}: strings as they are, containers and others as {@code repr}. */
    static String str(Object value) {
        value = JinjaEngine.unwrap(value);
        if (value instanceof CharSequence s) {
            return s.toString();
        }
        return repr(value);
    }

    /** Python's {@code repr(value)} for the values a template meets. */
    static String repr(Object value) {
        StringBuilder out = new StringBuilder();
        writeRepr(out, value);
        return out.toString();
    }

    private static void writeRepr(StringBuilder out, Object value) {
        value = JinjaEngine.unwrap(value);
        if (value == null) {
            out.append("None");
        } else if (value instanceof Boolean b) {
            out.append(b ? "True" : "False");
        } else if (value instanceof Number n) {
            out.append(number(n, false));
        } else if (value instanceof CharSequence s) {
            reprString(out, s.toString());
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) {
                    out.append(", ");
                }
                first = false;
                writeRepr(out, e.getKey());
                out.append(": ");
                writeRepr(out, e.getValue());
            }
            out.append('}');
        } else if (value instanceof Collection<?> c) {
            out.append('[');
            boolean first = true;
            for (Object o : c) {
                if (!first) {
                    out.append(", ");
                }
                first = false;
                writeRepr(out, o);
            }
            out.append(']');
        } else {
            out.append(value);
        }
    }

    private static void reprString(StringBuilder out, String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                out.append('\\').appendCodePoint(cp);
            } else if (cp == '\n') {
                out.append("\\n");
            } else if (cp == '\r') {
                out.append("\\r");
            } else if (cp == '\t') {
                out.append("\\t");
            } else if (cp < 0x20 || cp == 0x7f) {
                out.append(String.format("\\x%02x", cp));
            } else if (cp >= 0x80 && !printable(cp)) {
                out.append(cp <= 0xff ? String.format("\\x%02x", cp)
                        : cp <= 0xffff ? String.format("\\u%04x", cp) : String.format("\\U%08x", cp));
            } else {
                out.appendCodePoint(cp);
            }
        }
        out.append(quote);
    }

    /** Roughly Python's {@code str.isprintable} for one non-ASCII code point. */
    private static boolean printable(int cp) {
        int type = Character.getType(cp);
        return switch (type) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> false;
            case Character.SPACE_SEPARATOR -> cp == ' ';
            default -> true;
        };
    }

    /** A number as Python prints it: integers plainly, floats as {@code repr(float)} (or JSON's inf/nan names). */
    static String number(Number n, boolean json) {
        if (n instanceof Double || n instanceof Float) {
            double d = n.doubleValue();
            if (Double.isNaN(d)) {
                return json ? "NaN" : "nan";
            }
            if (Double.isInfinite(d)) {
                return json ? (d > 0 ? "Infinity" : "-Infinity") : (d > 0 ? "inf" : "-inf");
            }
            return floatRepr(d);
        }
        if (n instanceof BigDecimal b) {
            return floatRepr(b.doubleValue());
        }
        return n.toString();
    }

    /** Python's {@code repr(float)}: the shortest digits that read back, in Python's choice of notation. */
    static String floatRepr(double d) {
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = exact.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - exact.scale(); // d = 0.digits * 10^(exponent+1)
        String sign = d < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            String exp = String.format("%02d", Math.abs(exponent));
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + exp;
        }
        if (exponent < 0) {
            return sign + "0." + "0".repeat(-exponent - 1) + digits;
        }
        if (digits.length() <= exponent + 1) {
            return sign + digits + "0".repeat(exponent + 1 - digits.length()) + ".0";
        }
        return sign + digits.substring(0, exponent + 1) + "." + digits.substring(exponent + 1);
    }

    static String typeName(Object value) {
        value = JinjaEngine.unwrap(value);
        if (value == null) {
            return "NoneType";
        }
        if (value instanceof CharSequence) {
            return "str";
        }
        if (value instanceof Boolean) {
            return "bool";
        }
        if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
            return "float";
        }
        if (value instanceof Number) {
            return "int";
        }
        if (value instanceof Map<?, ?>) {
            return "dict";
        }
        if (value instanceof Collection<?>) {
            return "list";
        }
        return value.getClass().getSimpleName();
    }
}
