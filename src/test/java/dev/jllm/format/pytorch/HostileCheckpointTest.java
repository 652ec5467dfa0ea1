package dev.jllm.format.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelFormatException;
import dev.jllm.format.ModelLoaders;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Hostile checkpoints, each made here from a valid one by one change: every one is refused with a one-line error
 * naming the file, executing nothing, and allocating on the Java heap no more than the file's size
 * plus {@link #FIXED_ALLOCATION}: the unpickler may build values up to the file's size plus 64 KiB
 * ({@link TorchArchive#BUDGET_SLACK}, so that tiny files like these need no special case), and opening any file costs
 * a few KB more (the path, the mapping, the exception). Measured: 6 to 80 KB for the files of a few KB, 0.68 to
 * 0.77 MB for the 1 MB memo and stack bombs.
 */
@org.junit.jupiter.api.Timeout(value = 60, unit = java.util.concurrent.TimeUnit.SECONDS) // a hang guard, not a measure
class HostileCheckpointTest {

    static final long FIXED_ALLOCATION = 128 * 1024;

    @TempDir
    static Path dir;

    private static int counter;

    @BeforeAll
    static void warmUp() throws IOException {
        // class loading and first-call costs are paid here, not charged to the first hostile file
        try (ModelFile f = ModelLoaders.open(write(TinyCheckpoint.bytes()))) {
            assertEquals(TinyCheckpoint.DIM, f.config().dim());
        }
        assertThrows(ModelFormatException.class, () -> ModelLoaders.open(write(new byte[] {'P', 'K', 3, 4})));
    }

    static Path write(byte[] bytes) throws IOException {
        Path p = dir.resolve("hostile" + counter++ + ".pt");
        Files.write(p, bytes);
        return p;
    }

    /**
     * Refused in one line naming the file and saying {@code fragment}, without large allocations: the work is measured
     * by the bytes the loading thread allocates (an event count), not by time, which depends on the machine's load.
     */
    static ModelFormatException refused(byte[] bytes, String fragment) throws IOException {
        Path file = write(bytes);
        // a first attempt links the code paths involved (string concatenation sites are linked on first use, which
        // allocates); the second one is measured
        assertThrows(ModelFormatException.class, () -> ModelLoaders.open(file).close());
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long allocatedBefore = mx.getCurrentThreadAllocatedBytes();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoaders.open(file).close());
        long allocated = mx.getCurrentThreadAllocatedBytes() - allocatedBefore;
        String m = e.getMessage();
        assertFalse(m.contains("\n") || m.contains("\r"), "one line: " + m);
        assertTrue(m.startsWith(file.toString()), "names the file: " + m);
        assertTrue(m.contains(fragment), "says '" + fragment + "': " + m);
        assertTrue(allocated <= bytes.length + FIXED_ALLOCATION,
                "allocated " + allocated + " bytes for a " + bytes.length + "-byte file");
        return e;
    }

    /** A valid tiny checkpoint whose pickle is replaced. */
    static byte[] withPickle(byte[] pickle) {
        return TinyCheckpoint.zip(pickle, TorchZipWriter.Lie.NONE).toBytes();
    }

    @Test
    void theValidTinyCheckpointLoads() throws IOException {
        try (ModelFile f = ModelLoaders.open(write(TinyCheckpoint.bytes()))) {
            assertEquals(TinyCheckpoint.HIDDEN, f.config().hiddenDim());
            assertEquals(TinyCheckpoint.VOCAB, f.config().vocabSize());
            assertEquals(12, f.tensors().size());
            float[] norm = f.tensor("output_norm.weight").toFloatArray();
            assertArrayEquals(TinyCheckpoint.values(10, TinyCheckpoint.DIM), norm);
        }
    }

    private static void assertArrayEquals(float[] a, float[] b) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(a, b);
    }

    // ---- globals: nothing outside the allow-list is even looked up ----

    @Test
    void globalOsSystemIsRefusedByName() throws IOException {
        // what a malicious pickle does: os.system("touch PWNED") via GLOBAL + REDUCE
        Path marker = dir.resolve("PWNED");
        byte[] pickle = new PickleWriter().proto(2).global("os", "system").mark().string("touch " + marker).tuple()
                .reduce().stop().bytes();
        refused(withPickle(pickle), "refuses global 'os.system'");
        assertFalse(Files.exists(marker), "nothing was executed");
    }

    @ParameterizedTest
    @ValueSource(strings = {"builtins eval", "builtins exec", "posix system", "subprocess Popen", "torch load",
        "torch._utils _rebuild_device_tensor_from_numpy", "numpy.core.multiarray _reconstruct", "collections deque"})
    void everyOtherGlobalIsRefusedByName(String global) throws IOException {
        String[] parts = global.split(" ");
        byte[] viaGlobal = new PickleWriter().proto(2).global(parts[0], parts[1]).stop().bytes();
        refused(withPickle(viaGlobal), "refuses global '" + parts[0] + "." + parts[1] + "'");
        byte[] viaStackGlobal = new PickleWriter().proto(4).string(parts[0]).string(parts[1]).op(0x93).stop().bytes();
        refused(withPickle(viaStackGlobal), "refuses global '" + parts[0] + "." + parts[1] + "'");
    }

    @Test
    void objectBuildingAndExtensionOpcodesAreRefused() throws IOException {
        byte[] newobj = new PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().op(0x81).stop()
                .bytes();
        refused(withPickle(newobj), "NEWOBJ");
        byte[] ext = new PickleWriter().proto(2).op(0x82, 1).stop().bytes();
        refused(withPickle(ext), "EXT1");
        byte[] inst = new PickleWriter().proto(2).mark().op('i').raw("os\nsystem\n".getBytes()).stop().bytes();
        refused(withPickle(inst), "INST");
    }

    // ---- storages: views and sizes past their entries ----

    @Test
    void aTensorOffsetPastItsStorageIsRefused() throws IOException {
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        PickleWriter.TensorSpec norm = specs.get("norm.weight");
        specs.put("norm.weight", new PickleWriter.TensorSpec(norm.key(), norm.type(), norm.storageElements(), 4,
                norm.size(), norm.stride()));
        refused(withPickle(TinyCheckpoint.pickle(specs)), "reaches past the end of its storage");
    }

    @Test
    void aStrideThatOverflowsIsRefused() throws IOException {
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        PickleWriter.TensorSpec wq = specs.get("layers.0.attention.wq.weight");
        specs.put("layers.0.attention.wq.weight", new PickleWriter.TensorSpec(wq.key(), wq.type(),
                wq.storageElements(), 0, new long[] {8, 8}, new long[] {Long.MAX_VALUE / 4, 1}));
        refused(withPickle(TinyCheckpoint.pickle(specs)), "overflows");
    }

    @Test
    void aStorageLargerThanItsEntryIsRefused() throws IOException {
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        PickleWriter.TensorSpec norm = specs.get("norm.weight");
        specs.put("norm.weight", new PickleWriter.TensorSpec(norm.key(), norm.type(), 1L << 40, 0, norm.size(),
                norm.stride()));
        refused(withPickle(TinyCheckpoint.pickle(specs)), "past the end of its 32-byte entry");
    }

    @Test
    void aStorageWithoutAnEntryIsRefused() throws IOException {
        Map<String, PickleWriter.TensorSpec> specs = TinyCheckpoint.specs();
        PickleWriter.TensorSpec norm = specs.get("norm.weight");
        specs.put("norm.weight", new PickleWriter.TensorSpec("../../etc/passwd", norm.type(), 8, 0, norm.size(),
                norm.stride()));
        refused(withPickle(TinyCheckpoint.pickle(specs)), "has no entry");
    }

    // ---- the zip: compression and lying headers ----

    @Test
    void aCompressedPickleIsRefused() throws IOException {
        TorchZipWriter zip = new TorchZipWriter("tiny");
        zip.add("data.pkl", TinyCheckpoint.pickle(TinyCheckpoint.specs()), TorchZipWriter.Lie.COMPRESSED);
        refused(zip.toBytes(), "is compressed (method 8, deflate)");
    }

    @ParameterizedTest
    @EnumSource(value = TorchZipWriter.Lie.class, names = {"COMPRESSED", "LOCAL_NAME", "LOCAL_METHOD",
        "DESCRIPTOR_SIZE", "LOCAL_EXTRA_LENGTH"})
    void aStorageEntryThatIsCompressedOrWhoseHeadersLieIsRefused(TorchZipWriter.Lie lie) throws IOException {
        String expected = switch (lie) {
            case COMPRESSED -> "is compressed";
            case LOCAL_NAME -> "the local header names another entry";
            case LOCAL_METHOD -> "the local header says method 8";
            case DESCRIPTOR_SIZE, LOCAL_EXTRA_LENGTH -> "does not repeat the central directory's crc and size";
            case NONE -> throw new AssertionError();
        };
        refused(TinyCheckpoint.zip(TinyCheckpoint.pickle(TinyCheckpoint.specs()), lie).toBytes(), expected);
    }

    @Test
    void aCentralDirectoryPointingOutsideTheFileIsRefused() throws IOException {
        byte[] bytes = TinyCheckpoint.bytes();
        // the classic end record's directory offset (zip64 record absent: drop it by rewriting the locator)
        int end = bytes.length - 22;
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(end - 20, 0); // no zip64 locator
        b.putInt(end + 16, 0x7fff0000);
        refused(bytes, "outside the");
    }

    // ---- the pickle: recursion, huge memo, huge lengths ----

    @Test
    void aListAppendedToItselfIsRefused() throws IOException {
        byte[] pickle = new PickleWriter().proto(2).op(']').op('q', 0).op('h', 0).op('a').stop().bytes();
        refused(withPickle(pickle), "appends a list to itself");
    }

    @Test
    void aCycleThroughATupleIsRefused() throws IOException {
        // l = []; t = (l,); l.append(t)
        byte[] pickle = new PickleWriter().proto(2).op(']').op('q', 0).op(0x85).op('q', 1).op('h', 0).op('h', 1)
                .op('a').stop().bytes();
        refused(withPickle(pickle), "changes a list after placing it inside another value");
    }

    @Test
    void aDictInsideItselfIsRefused() throws IOException {
        byte[] pickle = new PickleWriter().proto(2).emptyDict().op('q', 0).string("self").op('h', 0).op('s').stop()
                .bytes();
        refused(withPickle(pickle), "puts a dict inside itself");
    }

    @Test
    void deepNestingIsRefusedWithoutRecursing() throws IOException {
        PickleWriter p = new PickleWriter().proto(2).none();
        for (int i = 0; i < 200_000; i++) {
            p.op(0x85); // TUPLE1
        }
        refused(withPickle(p.stop().bytes()), "nest more than 100 deep");
    }

    @Test
    void aHugeMemoIsRefusedWithinTheFileSizeBudget() throws IOException {
        PickleWriter p = new PickleWriter().proto(4).none();
        for (int i = 0; i < 1_000_000; i++) {
            p.op(0x94); // MEMOIZE: one more memo entry per byte
        }
        refused(withPickle(p.stop().bytes()), "a huge memo or structure");
    }

    @Test
    void aHugeMemoKeyAndAnUnwrittenKeyAreHandled() throws IOException {
        byte[] high = new PickleWriter().proto(2).none().op('r').int32(-1).op('j').int32(-1).op('j').int32(7).stop()
                .bytes();
        refused(withPickle(high), "memo key 7 is read before it is written");
    }

    @Test
    void aStackOfEmptyValuesIsRefusedWithinTheBudget() throws IOException {
        PickleWriter p = new PickleWriter().proto(2).mark();
        for (int i = 0; i < 1_000_000; i++) {
            p.op(']');
        }
        refused(withPickle(p.stop().bytes()), "a huge memo or structure");
    }

    @ParameterizedTest
    @ValueSource(strings = {"BINUNICODE", "BINUNICODE8", "BINBYTES8", "FRAME", "LONG4", "BINSTRING"})
    void lengthsLargerThanTheFileAreRefusedBeforeAllocating(String opcode) throws IOException {
        PickleWriter p = new PickleWriter().proto(4);
        switch (opcode) {
            case "BINUNICODE" -> p.op('X').int32(0x7fff_fff0);
            case "BINUNICODE8" -> p.op(0x8d).int64(1L << 40);
            case "BINBYTES8" -> p.op(0x8e).int64(-1L);
            case "FRAME" -> p.op(0x95).int64(1L << 50);
            case "LONG4" -> p.op(0x8b).int32(0x4000_0000);
            case "BINSTRING" -> p.op('T').int32(-5);
            default -> throw new AssertionError(opcode);
        }
        refused(withPickle(p.raw(new byte[16]).stop().bytes()), "remain (truncated?)");
    }

    @Test
    void aPickleWithoutStopIsRefused() throws IOException {
        byte[] pickle = TinyCheckpoint.pickle(TinyCheckpoint.specs());
        refused(withPickle(Arrays.copyOf(pickle, pickle.length - 1)), "ends without a STOP opcode");
    }

    // ---- truncated files ----

    @ParameterizedTest
    @ValueSource(ints = {4, 30, 200, 1000, 2000, 3000})
    void theTinyCheckpointCutShortIsRefused(int length) throws IOException {
        byte[] bytes = TinyCheckpoint.bytes();
        refused(Arrays.copyOf(bytes, Math.min(length, bytes.length - 1)), "zip");
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.001, 0.1, 0.5, 0.9, 0.9999})
    void theRealCheckpointCutShortIsRefused(double fraction) throws IOException {
        byte[] bytes = Files.readAllBytes(SharedData.model("torch/stories260K.pt"));
        refused(Arrays.copyOf(bytes, (int) (bytes.length * fraction)), "end-of-directory record");
    }

    @Test
    void theRealCheckpointWithoutItsLastByteIsRefused() throws IOException {
        byte[] bytes = Files.readAllBytes(SharedData.model("torch/stories260K.pt"));
        refused(Arrays.copyOf(bytes, bytes.length - 1), "end-of-directory record");
    }

    @Test
    void aLegacyTorchFileIsNamed() throws IOException {
        byte[] legacy = {(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20,
            0x6a, (byte) 0xa8, 0x50, 0x19, 0x2e};
        refused(legacy, "legacy PyTorch file");
    }
}
