package dev.jllm.format.pytorch;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The values {@link Unpickler} builds besides Java's own ({@code null} for None, {@code Boolean}, {@code Long},
 * {@code Double}, {@code String}, {@code byte[]}), {@link TorchStorage} and {@link TorchTensor}. Lists and dicts can
 * be filled only until they are placed inside another value, so no value can contain itself.
 */
public final class Pickled {

    private Pickled() {
    }

    /** A Python tuple; {@code depth} is how deeply values nest inside it (1 for a tuple of plain values). */
    public record Tuple(List<Object> items, int depth) {
        public Tuple {
            items = Collections.unmodifiableList(items);
        }
    }

    /** A Python list. */
    public static final class ListValue {
        final ArrayList<Object> items = new ArrayList<>();
        boolean sealed;
        int depth = 1;

        public List<Object> items() {
            return Collections.unmodifiableList(items);
        }
    }

    /** A Python dict or {@code collections.OrderedDict}, in insertion order. */
    public static final class Dict {
        final LinkedHashMap<Object, Object> entries = new LinkedHashMap<>();
        boolean sealed;
        int depth = 1;

        public Map<Object, Object> entries() {
            return Collections.unmodifiableMap(entries);
        }

        public Object get(Object key) {
            return entries.get(key);
        }
    }

    /** A global that passed the allow-list: a name only, never resolved to anything that runs. */
    record Global(String module, String name) {
        String qualified() {
            return module + "." + name;
        }
    }

    /** How deeply values nest in {@code v}: 0 for a plain value. */
    static int depth(Object v) {
        return switch (v) {
            case Tuple t -> t.depth();
            case ListValue l -> l.depth;
            case Dict d -> d.depth;
            case null, default -> 0;
        };
    }

    /** A short description of a value's type for error messages. */
    static String typeName(Object v) {
        return switch (v) {
            case null -> "None";
            case Boolean b -> "bool";
            case Long l -> "int";
            case Double d -> "float";
            case String s -> "str";
            case byte[] b -> "bytes";
            case Tuple t -> "tuple";
            case ListValue l -> "list";
            case Dict d -> "dict";
            case Global g -> g.qualified();
            case TorchStorage s -> "storage";
            case TorchTensor t -> "tensor";
            default -> v.getClass().getSimpleName();
        };
    }
}
