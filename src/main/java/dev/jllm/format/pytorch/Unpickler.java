package dev.jllm.format.pytorch;

import dev.jllm.format.ModelFormatException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle reader for what {@code torch.save} writes (protocols 2 to 5), that executes nothing. Python's unpickler
 * imports and calls whatever a pickle names; this one knows a fixed allow-list of globals by name and builds inert
 * values for them ({@link Pickled}, {@link TorchTensor}), so a pickle that names anything else (os.system, eval, ...)
 * is refused before anything happens. Every length is checked against the bytes that remain before it is used, and
 * the values built are charged against a budget tied to the file's size, so no input makes it allocate more than that
 * or loop for long; lists and dicts placed inside another value can no longer change, so nothing can contain itself.
 */
final class Unpickler {

    /** Turns a persistent id (the tuple {@code torch.save} writes for a storage) into a value. */
    @FunctionalInterface
    interface PersistentLoader {
        Object load(Object pid, String where);
    }

    static final String ORDERED_DICT = "collections.OrderedDict";
    static final String REBUILD_TENSOR = "torch._utils._rebuild_tensor_v2";
    static final String REBUILD_PARAMETER = "torch._utils._rebuild_parameter";
    static final String REBUILD_PARAMETER_WITH_STATE = "torch._utils._rebuild_parameter_with_state";

    /** Every global a pickle may name; anything else is refused. */
    static final Set<String> ALLOWED = allowed();

    private static final int MAX_PROTOCOL = 5;
    private static final int MAX_DIMENSIONS = 64;
    private static final int MAX_GLOBAL_NAME = 256;
    /** Deeper nesting than any checkpoint has; it keeps hashing and comparing tuples off deep recursion. */
    static final int MAX_DEPTH = 100;
    /**
     * What a value on the stack, a new list, dict or tuple, a container slot and a memo entry are charged: about the
     * heap they take, growth of the backing arrays included.
     */
    private static final int VALUE_COST = 24;
    private static final int CONTAINER_COST = 80;
    private static final int SLOT_COST = 12;
    private static final int MEMO_COST = 96;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_BIG = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final String where;
    private final MemorySegment data;
    private final long budget;
    private final PersistentLoader persistent;
    private long spent;
    private long pos;
    private long opcodeAt;
    private final ArrayList<Object> stack = new ArrayList<>();
    private int[] marks = new int[16];
    private int markCount;
    private final Map<Long, Object> memo = new HashMap<>();

    /**
     * @param where      how error messages name the pickle (file and entry)
     * @param budget     the bytes of values this pickle may build (the file's size plus a little)
     */
    Unpickler(String where, MemorySegment data, long budget, PersistentLoader persistent) {
        this.where = where;
        this.data = data;
        this.budget = budget;
        this.persistent = persistent;
    }

    private static Set<String> allowed() {
        List<String> names = new ArrayList<>(List.of(ORDERED_DICT, REBUILD_TENSOR, REBUILD_PARAMETER,
                REBUILD_PARAMETER_WITH_STATE));
        for (TorchStorageType t : TorchStorageType.values()) {
            names.add("torch." + t.className);
        }
        return Set.copyOf(names);
    }

    /** Reads the pickle up to STOP and returns its value. */
    Object load() {
        while (true) {
            opcodeAt = pos;
            int op = u8();
            switch (op) {
                case 0x80 -> { // PROTO
                    int protocol = u8();
                    if (protocol > MAX_PROTOCOL) {
                        throw bad("pickle protocol " + protocol + " (expected 2 to " + MAX_PROTOCOL + ")");
                    }
                }
                case 0x95 -> { // FRAME: only a hint for buffered readers
                    long length = u64();
                    if (length < 0 || length > remaining()) {
                        throw bad("frame of " + Long.toUnsignedString(length) + " bytes, but " + remaining()
                                + " bytes remain (truncated?)");
                    }
                }
                case '.' -> { // STOP
                    return pop();
                }
                case '(' -> mark();
                case '0' -> { // POP
                    if (stack.size() > markBase()) {
                        stack.removeLast();
                    } else {
                        popMark();
                    }
                }
                case '1' -> popToMark(); // POP_MARK
                case '2' -> push(peek()); // DUP
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push((long) i32()); // BININT
                case 'K' -> push((long) u8()); // BININT1
                case 'M' -> push((long) (u8() | u8() << 8)); // BININT2
                case 0x8a -> push(longOfBytes(u8())); // LONG1
                case 0x8b -> push(longOfBytes(i32())); // LONG4
                case 'G' -> push(f64big()); // BINFLOAT
                case 'X' -> push(utf8(u32())); // BINUNICODE
                case 0x8c -> push(utf8(u8())); // SHORT_BINUNICODE
                case 0x8d -> push(utf8(u64())); // BINUNICODE8
                case 'T' -> push(latin1(i32())); // BINSTRING
                case 'U' -> push(latin1(u8())); // SHORT_BINSTRING
                case 'B' -> push(bytes(u32())); // BINBYTES
                case 'C' -> push(bytes(u8())); // SHORT_BINBYTES
                case 0x8e, 0x96 -> push(bytes(u64())); // BINBYTES8, BYTEARRAY8
                case ')' -> push(new Pickled.Tuple(List.of(), 1));
                case 't' -> push(tuple(popToMark()));
                case 0x85 -> push(tuple(popN(1)));
                case 0x86 -> push(tuple(popN(2)));
                case 0x87 -> push(tuple(popN(3)));
                case ']' -> push(newList());
                case 'l' -> { // LIST
                    List<Object> items = popToMark();
                    Pickled.ListValue list = newList();
                    for (Object item : items) {
                        append(list, item);
                    }
                    push(list);
                }
                case 'a' -> { // APPEND
                    Object value = pop();
                    append(mutableList(), value);
                }
                case 'e' -> { // APPENDS
                    List<Object> items = popToMark();
                    Pickled.ListValue list = mutableList();
                    for (Object item : items) {
                        append(list, item);
                    }
                }
                case '}' -> push(newDict());
                case 'd' -> { // DICT
                    List<Object> items = popToMark();
                    Pickled.Dict dict = newDict();
                    setItems(dict, items);
                    push(dict);
                }
                case 's' -> { // SETITEM
                    Object value = pop();
                    Object key = pop();
                    setItems(mutableDict(), Arrays.asList(key, value));
                }
                case 'u' -> { // SETITEMS
                    List<Object> items = popToMark();
                    setItems(mutableDict(), items);
                }
                case 'c' -> push(global(line(), line())); // GLOBAL
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw bad("STACK_GLOBAL needs two strings, got " + Pickled.typeName(module) + " and "
                                + Pickled.typeName(name));
                    }
                    push(global(m, n));
                }
                case 'R' -> { // REDUCE
                    Object args = pop();
                    Object callable = pop();
                    push(reduce(callable, args));
                }
                case 'b' -> { // BUILD
                    Object state = pop();
                    build(peek(), state);
                }
                case 'Q' -> push(persistent.load(pop(), where + " (byte " + opcodeAt + ")")); // BINPERSID
                case 'q' -> put(u8()); // BINPUT
                case 'r' -> put(u32()); // LONG_BINPUT
                case 0x94 -> put(memo.size()); // MEMOIZE
                case 'h' -> get(u8()); // BINGET
                case 'j' -> get(u32()); // LONG_BINGET
                case 0x81, 0x92, 'i', 'o' -> throw bad("opcode " + opcodeName(op)
                        + " builds an object by calling its class; a PyTorch checkpoint does not need it");
                case 0x82, 0x83, 0x84 -> throw bad("opcode " + opcodeName(op)
                        + " names a global by an extension code; refused (only named, allowed globals are read)");
                case 'P' -> throw bad("opcode PERSID (a text persistent id); PyTorch writes BINPERSID");
                case 0x97, 0x98 -> throw bad("opcode " + opcodeName(op)
                        + " reads an out-of-band buffer, which a checkpoint file cannot have");
                default -> throw bad("unsupported pickle opcode 0x" + Integer.toHexString(op)
                        + (op >= 0x20 && op < 0x7f ? " '" + (char) op + "'" : "")
                        + " (this reader takes the binary opcodes of protocols 2 to 5)");
            }
        }
    }

    private static String opcodeName(int op) {
        return switch (op) {
            case 0x81 -> "NEWOBJ";
            case 0x92 -> "NEWOBJ_EX";
            case 'i' -> "INST";
            case 'o' -> "OBJ";
            case 0x82 -> "EXT1";
            case 0x83 -> "EXT2";
            case 0x84 -> "EXT4";
            case 0x97 -> "NEXT_BUFFER";
            case 0x98 -> "READONLY_BUFFER";
            default -> "0x" + Integer.toHexString(op);
        };
    }

    // ---- globals, calls and state: an allow-list of names, each implemented here ----

    private Pickled.Global global(String module, String name) {
        String qualified = module + "." + name;
        if (!ALLOWED.contains(qualified)) {
            throw bad("refuses global '" + qualified
                    + "', which is not on the allow-list of a PyTorch state dict (a pickle that names it could run"
                    + " code)");
        }
        return new Pickled.Global(module, name);
    }

    private Object reduce(Object callable, Object args) {
        if (!(callable instanceof Pickled.Global g)) {
            throw bad("REDUCE calls a " + Pickled.typeName(callable) + ", not an allowed global");
        }
        if (!(args instanceof Pickled.Tuple t)) {
            throw bad("REDUCE of " + g.qualified() + " with " + Pickled.typeName(args) + " arguments (expected a tuple)");
        }
        List<Object> a = t.items();
        switch (g.qualified()) {
            case ORDERED_DICT -> {
                if (!a.isEmpty()) {
                    throw bad("collections.OrderedDict called with " + a.size() + " arguments (expected none)");
                }
                return newDict();
            }
            case REBUILD_TENSOR -> {
                return rebuildTensor(a);
            }
            case REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE -> {
                int expected = g.qualified().equals(REBUILD_PARAMETER) ? 3 : 4;
                if (a.size() != expected || !(a.get(0) instanceof TorchTensor tensor)) {
                    throw bad(g.qualified() + " called with " + describe(a) + " (expected a tensor and "
                            + (expected - 1) + " more arguments)");
                }
                return tensor;
            }
            default -> throw bad("calling " + g.qualified() + " is not supported (it only tags storages)");
        }
    }

    /** {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])}. */
    private TorchTensor rebuildTensor(List<Object> a) {
        if (a.size() < 6 || a.size() > 7 || !(a.get(0) instanceof TorchStorage storage)
                || !(a.get(1) instanceof Long offset) || !(a.get(2) instanceof Pickled.Tuple sizeTuple)
                || !(a.get(3) instanceof Pickled.Tuple strideTuple) || !(a.get(4) instanceof Boolean)) {
            throw bad(REBUILD_TENSOR + " called with " + describe(a)
                    + " (expected storage, offset, size, stride, requires_grad, hooks)");
        }
        long[] size = longs(sizeTuple, "size");
        long[] stride = longs(strideTuple, "stride");
        if (size.length != stride.length || size.length > MAX_DIMENSIONS) {
            throw bad("tensor of storage '" + storage.key() + "' has size " + Arrays.toString(size) + " and stride "
                    + Arrays.toString(stride) + " (expected as many strides as sizes, at most " + MAX_DIMENSIONS + ")");
        }
        String view = "tensor view (offset " + offset + ", size " + Arrays.toString(size) + ", stride "
                + Arrays.toString(stride) + ") of storage '" + storage.key() + "' (" + storage.elements()
                + " elements)";
        if (offset < 0) {
            throw bad(view + " has a negative offset");
        }
        try {
            long elements = 1;
            long last = offset;
            for (int i = 0; i < size.length; i++) {
                elements = Math.multiplyExact(elements, size[i]);
                if (size[i] > 0) {
                    last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
                }
            }
            boolean inside = elements == 0 ? offset <= storage.elements() : last < storage.elements();
            if (!inside) {
                throw bad(view + " reaches past the end of its storage");
            }
        } catch (ArithmeticException e) {
            throw bad(view + " overflows");
        }
        charge(CONTAINER_COST + 4L * SLOT_COST * size.length);
        return new TorchTensor(storage, offset, size, stride);
    }

    private long[] longs(Pickled.Tuple t, String what) {
        long[] out = new long[t.items().size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.items().get(i) instanceof Long v) || v < 0) {
                throw bad("tensor " + what + " " + describe(t.items()) + " (expected non-negative integers)");
            }
            out[i] = v;
        }
        return out;
    }

    /** BUILD: the state an OrderedDict carries ({@code _metadata} of a state dict) is read past. */
    private void build(Object target, Object state) {
        if (!(target instanceof Pickled.Dict)) {
            throw bad("BUILD sets the state of a " + Pickled.typeName(target)
                    + "; only an OrderedDict's attributes are accepted");
        }
        seal(state);
    }

    private static String describe(List<Object> items) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < items.size() && i < 8; i++) {
            Object v = items.get(i);
            sb.append(i > 0 ? ", " : "").append(v instanceof Long || v instanceof Boolean ? String.valueOf(v)
                    : Pickled.typeName(v));
        }
        return sb.append(items.size() > 8 ? ", ...)" : ")").toString();
    }

    // ---- containers ----

    private Pickled.Tuple tuple(List<Object> items) {
        int depth = 1;
        for (Object item : items) {
            seal(item);
            depth = Math.max(depth, nested(item));
        }
        charge(CONTAINER_COST + (long) SLOT_COST * items.size());
        return new Pickled.Tuple(items, depth);
    }

    private Pickled.ListValue newList() {
        charge(CONTAINER_COST);
        return new Pickled.ListValue();
    }

    private Pickled.Dict newDict() {
        charge(CONTAINER_COST);
        return new Pickled.Dict();
    }

    /** The depth of a container that holds {@code value}, refused beyond {@link #MAX_DEPTH}. */
    private int nested(Object value) {
        int depth = Pickled.depth(value) + 1;
        if (depth > MAX_DEPTH) {
            throw bad("values nest more than " + MAX_DEPTH + " deep; refused");
        }
        return depth;
    }

    private Pickled.ListValue mutableList() {
        Object top = peek();
        if (!(top instanceof Pickled.ListValue list)) {
            throw bad("APPEND to a " + Pickled.typeName(top) + " (expected a list)");
        }
        if (list.sealed) {
            throw bad("changes a list after placing it inside another value (a recursive structure); refused");
        }
        return list;
    }

    private Pickled.Dict mutableDict() {
        Object top = peek();
        if (!(top instanceof Pickled.Dict dict)) {
            throw bad("SETITEM on a " + Pickled.typeName(top) + " (expected a dict)");
        }
        if (dict.sealed) {
            throw bad("changes a dict after placing it inside another value (a recursive structure); refused");
        }
        return dict;
    }

    private void append(Pickled.ListValue list, Object value) {
        if (value == list) {
            throw bad("appends a list to itself (a recursive structure); refused");
        }
        seal(value);
        list.depth = Math.max(list.depth, nested(value));
        charge(SLOT_COST);
        list.items.add(value);
    }

    /** Sets items given as a flat key, value, key, value list. */
    private void setItems(Pickled.Dict dict, List<Object> items) {
        if (items.size() % 2 != 0) {
            throw bad("SETITEMS with an odd number (" + items.size() + ") of keys and values");
        }
        for (int i = 0; i < items.size(); i += 2) {
            Object key = items.get(i);
            Object value = items.get(i + 1);
            if (key instanceof Pickled.ListValue || key instanceof Pickled.Dict || key instanceof TorchTensor
                    || key instanceof byte[]) {
                throw bad("dict key of type " + Pickled.typeName(key) + " (unhashable)");
            }
            if (value == dict) {
                throw bad("puts a dict inside itself (a recursive structure); refused");
            }
            seal(value);
            dict.depth = Math.max(dict.depth, Math.max(nested(key), nested(value)));
            charge(4L * SLOT_COST); // a map entry
            dict.entries.put(key, value);
        }
    }

    private static void seal(Object value) {
        if (value instanceof Pickled.ListValue l) {
            l.sealed = true;
        } else if (value instanceof Pickled.Dict d) {
            d.sealed = true;
        }
    }

    // ---- the stack, marks and memo ----

    private void push(Object value) {
        charge(VALUE_COST);
        stack.add(value);
    }

    private int markBase() {
        return markCount == 0 ? 0 : marks[markCount - 1];
    }

    private Object pop() {
        if (stack.size() <= markBase()) {
            throw bad("pops from an empty stack" + (markCount > 0 ? " (above a MARK)" : ""));
        }
        return stack.removeLast();
    }

    private Object peek() {
        if (stack.size() <= markBase()) {
            throw bad("reads the top of an empty stack" + (markCount > 0 ? " (above a MARK)" : ""));
        }
        return stack.getLast();
    }

    private List<Object> popN(int n) {
        if (stack.size() - markBase() < n) {
            throw bad("needs " + n + " values on the stack, has " + (stack.size() - markBase()));
        }
        List<Object> top = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
        stack.subList(stack.size() - n, stack.size()).clear();
        return top;
    }

    private void mark() {
        if (markCount == marks.length) {
            charge((long) marks.length * 4);
            marks = Arrays.copyOf(marks, marks.length * 2);
        }
        marks[markCount++] = stack.size();
    }

    private int popMark() {
        if (markCount == 0) {
            throw bad("needs a MARK, but there is none");
        }
        return marks[--markCount];
    }

    private List<Object> popToMark() {
        int base = popMark();
        List<Object> items = new ArrayList<>(stack.subList(base, stack.size()));
        stack.subList(base, stack.size()).clear();
        return items;
    }

    private void put(long key) {
        Object value = peek();
        charge(MEMO_COST);
        memo.put(key, value);
    }

    private void get(long key) {
        if (!memo.containsKey(key)) {
            throw bad("memo key " + key + " is read before it is written");
        }
        push(memo.get(key));
    }

    private void charge(long bytes) {
        spent += bytes;
        if (spent > budget) {
            throw bad("builds more than " + budget + " bytes of values (the file's size allows no more); refused"
                    + " (a huge memo or structure)");
        }
    }

    // ---- reading bytes ----

    private long remaining() {
        return data.byteSize() - pos;
    }

    private void need(long n, String what) {
        if (n < 0 || n > remaining()) {
            throw bad(what + " of " + Long.toUnsignedString(n) + " bytes, but " + remaining()
                    + " bytes remain (truncated?)");
        }
    }

    private int u8() {
        if (remaining() < 1) {
            throw bad("ends without a STOP opcode (truncated?)");
        }
        return Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, pos++));
    }

    private int i32() {
        need(4, "an integer");
        int v = data.get(I32, pos);
        pos += 4;
        return v;
    }

    private long u32() {
        return Integer.toUnsignedLong(i32());
    }

    /** An unsigned 64-bit length; values above Long.MAX_VALUE come back negative and are refused by {@link #need}. */
    private long u64() {
        need(8, "an integer");
        long v = data.get(I64, pos);
        pos += 8;
        return v;
    }

    private double f64big() {
        need(8, "a float");
        double v = data.get(F64_BIG, pos);
        pos += 8;
        return v;
    }

    private long longOfBytes(long n) {
        need(n, "an integer");
        if (n > 8) {
            throw bad("integer of " + n + " bytes (at most 8 are supported)");
        }
        long v = 0;
        for (int i = 0; i < n; i++) {
            v |= (long) Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, pos + i)) << (8 * i);
        }
        if (n > 0 && n < 8 && (data.get(ValueLayout.JAVA_BYTE, pos + n - 1) & 0x80) != 0) {
            v |= -1L << (8 * n); // sign extension of a two's complement value
        }
        pos += n;
        return v;
    }

    private byte[] rawBytes(long n, String what) {
        need(n, what);
        charge(2 * VALUE_COST + 2 * n); // the bytes, and the String made of them
        byte[] out = data.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
        pos += n;
        return out;
    }

    private String utf8(long n) {
        return new String(rawBytes(n, "a string"), StandardCharsets.UTF_8);
    }

    private String latin1(long n) {
        return new String(rawBytes(n, "a string"), StandardCharsets.ISO_8859_1);
    }

    private byte[] bytes(long n) {
        return rawBytes(n, "a bytes value");
    }

    /** A newline-terminated line of GLOBAL. */
    private String line() {
        long limit = Math.min(remaining(), MAX_GLOBAL_NAME + 1);
        for (long i = 0; i < limit; i++) {
            if (data.get(ValueLayout.JAVA_BYTE, pos + i) == '\n') {
                String s = latin1(i);
                pos++;
                return s;
            }
        }
        throw bad("GLOBAL name is not a line of at most " + MAX_GLOBAL_NAME + " bytes (truncated?)");
    }

    private ModelFormatException bad(String problem) {
        return new ModelFormatException(where + ": " + problem + " (pickle byte " + opcodeAt + ")");
    }
}
