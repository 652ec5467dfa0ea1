package dev.jllm.format.pytorch;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Writes pickle opcodes one by one, as Python's pickler writes them for a {@code torch.save} (protocol 2, memoized
 * strings and globals), so tests can build checkpoints, and hostile pickles, byte by byte.
 */
public final class PickleWriter {

    /** One tensor of a state dict to write: a view of storage {@code key}. */
    public record TensorSpec(String key, TorchStorageType type, long storageElements, long offset, long[] size,
            long[] stride) {
        public static TensorSpec contiguous(String key, TorchStorageType type, long... size) {
            long n = 1;
            for (long d : size) {
                n *= d;
            }
            return new TensorSpec(key, type, n, 0, size, TorchTensor.contiguousStrides(size));
        }
    }

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int memo;

    public PickleWriter op(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    public PickleWriter proto(int version) {
        return op(0x80, version);
    }

    public PickleWriter global(String module, String name) {
        op('c');
        raw((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        return this;
    }

    public PickleWriter string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        int32(b.length);
        return raw(b);
    }

    public PickleWriter integer(long v) {
        if (v >= 0 && v < 256) {
            return op('K', (int) v);
        }
        if (v >= 0 && v < 65536) {
            return op('M', (int) (v & 0xff), (int) (v >> 8));
        }
        if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            op('J');
            return int32((int) v);
        }
        op(0x8a, 8);
        return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    public PickleWriter floating(double v) {
        op('G');
        return raw(ByteBuffer.allocate(8).order(ByteOrder.BIG_ENDIAN).putDouble(v).array());
    }

    public PickleWriter bool(boolean v) {
        return op(v ? 0x88 : 0x89);
    }

    public PickleWriter none() {
        return op('N');
    }

    public PickleWriter mark() {
        return op('(');
    }

    public PickleWriter tuple() {
        return op('t');
    }

    public PickleWriter emptyTuple() {
        return op(')');
    }

    public PickleWriter reduce() {
        return op('R');
    }

    public PickleWriter emptyDict() {
        return op('}');
    }

    public PickleWriter setItems() {
        return op('u');
    }

    public PickleWriter put() {
        return op('q', memo++ & 0xff);
    }

    public PickleWriter stop() {
        return op('.');
    }

    public PickleWriter int32(int v) {
        return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    public PickleWriter int64(long v) {
        return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    public PickleWriter raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    /** {@code OrderedDict()} ready for SETITEMS. */
    public PickleWriter orderedDict() {
        return global("collections", "OrderedDict").emptyTuple().reduce();
    }

    /** {@code _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())}. */
    public PickleWriter tensor(TensorSpec t) {
        global("torch._utils", "_rebuild_tensor_v2");
        mark();
        mark().string("storage").global("torch", t.type().className).string(t.key()).string("cpu")
                .integer(t.storageElements()).tuple();
        op('Q');
        integer(t.offset());
        mark();
        for (long s : t.size()) {
            integer(s);
        }
        tuple();
        mark();
        for (long s : t.stride()) {
            integer(s);
        }
        tuple();
        bool(false);
        orderedDict();
        tuple();
        return reduce();
    }

    /** An OrderedDict of tensors, as {@code model.state_dict()} pickles. */
    public PickleWriter stateDict(Map<String, TensorSpec> tensors) {
        orderedDict();
        mark();
        for (Map.Entry<String, TensorSpec> e : tensors.entrySet()) {
            string(e.getKey());
            tensor(e.getValue());
        }
        return setItems();
    }

    /** A dict of plain values (hyper-parameters). */
    public PickleWriter plainDict(Map<String, ?> values) {
        emptyDict();
        mark();
        for (Map.Entry<String, ?> e : values.entrySet()) {
            string(e.getKey());
            switch (e.getValue()) {
                case null -> none();
                case Boolean b -> bool(b);
                case Integer i -> integer(i);
                case Long l -> integer(l);
                case Double d -> floating(d);
                case Float f -> floating(f);
                case String s -> string(s);
                default -> throw new IllegalArgumentException(e.getValue().getClass().toString());
            }
        }
        return setItems();
    }

    public byte[] bytes() {
        return out.toByteArray();
    }
}
