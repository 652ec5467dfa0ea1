package dev.jllm.cli;

import static dev.jllm.cli.HostileHubTest.assertNoControlCharacters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.gguf.GgufFile;
import dev.jllm.format.gguf.GgufReader;
import dev.jllm.format.gguf.GgufWriter;
import dev.jllm.tensor.GgmlType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18, item 7: text from a file never reaches the terminal raw. A GGUF file whose metadata and tensor names hold
 * escape sequences (retitle the window, clear the screen), a bidi override and a NUL is shown by {@code inspect
 * --metadata} with those characters escaped, and error messages escape them too (with and without {@code --verbose}).
 */
class TerminalEscapesTest {

    static final String EVIL = "x\u001b]0;pwned\u0007\u001b[2J\u202e\u0000\u009b1m";
    static final String SHOWN = "x\\x1b]0;pwned\\x07\\x1b[2J\\u202e\\x00\\x9b1m";

    @TempDir
    Path dir;

    Path evilGguf() throws IOException {
        Path evil = dir.resolve("evil.gguf");
        try (GgufFile base = GgufReader.read(SharedData.model("stories260K-f32.gguf"))) {
            GgufWriter w = GgufWriter.copyOf(base);
            w.putString("general.name", EVIL);
            w.putString("evil.key" + EVIL, "value");
            w.putString("evil.long", "a".repeat(60) + EVIL + "b".repeat(40));
            w.addTensor("tensor" + EVIL, GgmlType.F32, new long[] {4}, sink -> sink.write(ByteBuffer.allocate(16)));
            w.write(evil, null);
        }
        return evil;
    }

    @Test
    void inspectShowsMetadataAndNamesEscaped() throws IOException {
        CliTest.Result r = CliTest.run("inspect", evilGguf().toString(), "--metadata");
        assertEquals(0, r.code(), r.err());
        assertNoControlCharacters(r.out());
        assertTrue(r.out().contains("general.name") && r.out().contains(SHOWN), r.out());
        assertTrue(r.out().contains("evil.key" + SHOWN), r.out());
        assertTrue(r.out().contains("tensor" + SHOWN), r.out());
        assertTrue(r.out().contains("a".repeat(60) + SHOWN.substring(0, 17)), "a long value is cut after escaping");
    }

    @Test
    void errorMessagesShowFileTextEscaped() throws IOException {
        Path evil = evilGguf();
        // a --filter that matches nothing: the message repeats it
        CliTest.Result r = CliTest.run("dump", "weights", "-m", evil.toString(), "-o", dir.resolve("out").toString(),
                "--filter", "\\Qnothing" + EVIL + "\\E");
        CliTest.assertOneLineError(r, "no tensor matches", SHOWN);
        assertNoControlCharacters(r.err());
        CliTest.Result verbose = CliTest.run("dump", "weights", "-m", evil.toString(), "-o",
                dir.resolve("out").toString(), "--filter", "\\Qnothing" + EVIL + "\\E", "--verbose");
        assertEquals(2, verbose.code());
        assertTrue(verbose.err().contains("\tat "), "the stack trace, its frames indented as usual: " + verbose.err());
        assertNoControlCharacters(verbose.err().replace("\t", ""));
        CliTest.Result option = CliTest.run("dump", "weights", "-m", evil.toString(), "-o",
                dir.resolve("out").toString(), "--format", EVIL);
        CliTest.assertOneLineError(option, "unknown --format", SHOWN);
        assertFalse(option.err().contains("\u001b"));
    }
}
