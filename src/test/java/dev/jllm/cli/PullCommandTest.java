package dev.jllm.cli;

import static dev.jllm.cli.CliTest.assertOneLineError;
import static dev.jllm.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import dev.jllm.hub.FakeHub;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** pull, list, rm and -hf end to end against a loopback Hub (see {@link FakeHub}). */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PullCommandTest {

    static final String REPO = "test-org/stories260K-GGUF";
    static final String COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
    static final String F32 = "stories260K-f32.gguf";

    @TempDir
    Path cache;

    static FakeHub hub() throws IOException {
        FakeHub hub = new FakeHub();
        hub.repo(REPO, COMMIT)
                .file(F32, SharedData.model(F32), true)
                .file("stories260K-q8_0-mixed.gguf", SharedData.model("stories260K-q8_0-mixed.gguf"), true);
        return hub;
    }

    @Test
    void pullListAndRemove() throws IOException {
        try (FakeHub hub = hub()) {
            CliTest.Result pulled = run("pull", REPO + ":f32", "--endpoint", hub.endpoint().toString(), "--cache-dir", cache.toString());
            assertEquals(0, pulled.code(), pulled.err());
            Path file = Path.of(pulled.out().strip());
            assertEquals(cache.resolve("models--test-org--stories260K-GGUF/snapshots/" + COMMIT + "/" + F32), file);
            assertArrayEquals(Files.readAllBytes(SharedData.model(F32)), Files.readAllBytes(file));
            assertTrue(pulled.err().contains("downloading " + F32 + " (1.1 MiB)"), pulled.err());
            assertTrue(pulled.err().contains("SHA-256 verified"), pulled.err());

            CliTest.Result again = run("pull", REPO + ":f32", "--endpoint", hub.endpoint().toString(), "--cache-dir", cache.toString());
            assertEquals(0, again.code(), again.err());
            assertEquals(file.toString(), again.out().strip());
            assertTrue(again.err().contains("is in the cache"), again.err());

            CliTest.Result list = run("list", "--cache-dir", cache.toString());
            assertEquals(0, list.code(), list.err());
            String[] lines = list.out().strip().split("\n");
            assertEquals(3, lines.length, list.out());
            assertTrue(lines[1].matches(REPO + ":" + F32 + " +1\\.1 MiB +main \\(" + COMMIT.substring(0, 10) + "\\)"), lines[1]);
            assertTrue(lines[2].startsWith("1 file, 1.1 MiB in " + cache), lines[2]);

            CliTest.Result rm = run("rm", REPO + ":" + F32, "--cache-dir", cache.toString());
            assertEquals(0, rm.code(), rm.err());
            assertEquals("removed " + file, rm.out().strip());
            assertFalse(Files.exists(file));
            assertTrue(run("list", "--cache-dir", cache.toString()).out().startsWith("no models in the cache"));
            assertOneLineError(run("rm", REPO, "--cache-dir", cache.toString()), REPO, "not in the cache");
        }
    }

    /**
     * Issue 14, item 9: one rule chooses the file a reference names, for pull (online or offline), -hf, list and rm:
     * among the repository's files as listed when it was pulled, whatever part of it is cached. "mixed" names two
     * files of the repository, so it is ambiguous everywhere, even when only one of them is in the cache.
     */
    @Test
    void oneSelectionRuleForPullHfListAndRm() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            hub.repo(REPO, COMMIT)
                    .file(F32, SharedData.model(F32), true)
                    .file("stories260K-q8_0-mixed.gguf", SharedData.model("stories260K-q8_0-mixed.gguf"), true)
                    .file("stories260K-q4_0-mixed.gguf", SharedData.model("stories260K-q4_0-mixed.gguf"), true);
            String[] online = {"--endpoint", hub.endpoint().toString(), "--cache-dir", cache.toString()};
            String[] offline = {"--offline", "--cache-dir", cache.toString()};
            String ambiguous = REPO + ":mixed matches 2 GGUF files; name one: stories260K-q4_0-mixed.gguf,"
                    + " stories260K-q8_0-mixed.gguf";

            assertOneLineError(run(concat(new String[] {"pull", REPO + ":mixed"}, online)), ambiguous);
            assertEquals(0, run(concat(new String[] {"pull", REPO + ":q8_0"}, online)).code());

            CliTest.Result pull = run(concat(new String[] {"pull", REPO + ":mixed"}, online));
            assertEquals(2, pull.code(), pull.err());
            assertTrue(pull.err().strip().lines().toList().getLast().contains(ambiguous), pull.err());
            assertOneLineError(run(concat(new String[] {"pull", REPO + ":mixed"}, offline)), ambiguous);
            assertOneLineError(run(concat(new String[] {"generate", "-hf", REPO + ":mixed", "-p", "hi"}, offline)),
                    ambiguous);
            CliTest.Result rm = run("rm", REPO + ":mixed", "--cache-dir", cache.toString());
            assertOneLineError(rm, ambiguous);
            assertFalse(rm.err().contains("not in the cache"), rm.err());
            assertOneLineError(run("list", REPO + ":mixed", "--cache-dir", cache.toString()), ambiguous);

            CliTest.Result list = run("list", REPO + ":q8_0", "--cache-dir", cache.toString());
            assertEquals(0, list.code(), list.err());
            assertTrue(list.out().contains(REPO + ":stories260K-q8_0-mixed.gguf"), list.out());
            assertOneLineError(run("rm", REPO + ":q4_0", "--cache-dir", cache.toString()),
                    REPO + ":stories260K-q4_0-mixed.gguf, which is not in the cache");
            assertOneLineError(run("rm", REPO + ":q5_1", "--cache-dir", cache.toString()),
                    "not in the cache", "no file matching 'q5_1'");
            CliTest.Result removed = run("rm", REPO + ":q8_0", "--cache-dir", cache.toString());
            assertEquals(0, removed.code(), removed.err());
            assertTrue(removed.out().contains("stories260K-q8_0-mixed.gguf"), removed.out());
        }
    }

    @Test
    void generateWithHfGivesTheTokensOfTheLocalFile() throws IOException {
        String[] common = {"-p", "Once upon a time", "--temp", "0", "-n", "24", "--format", "json"};
        CliTest.Result local = run(concat(new String[] {"generate", "-m", SharedData.model(F32).toString()}, common));
        assertEquals(0, local.code(), local.err());
        try (FakeHub hub = hub()) {
            CliTest.Result remote = run(concat(new String[] {"generate", "-hf", REPO + ":" + F32, "--endpoint",
                hub.endpoint().toString(), "--cache-dir", cache.toString()}, common));
            assertEquals(0, remote.code(), remote.err());
            JsonNode a = new ObjectMapper().readTree(local.out());
            JsonNode b = new ObjectMapper().readTree(remote.out());
            assertEquals(a.get("prompt_ids"), b.get("prompt_ids"));
            assertEquals(a.get("generated_ids"), b.get("generated_ids"));
            assertEquals(24, b.get("generated_ids").size());
            JsonNode golden = SharedData.json(SharedData.golden("llamacpp_f32_p1.json"));
            assertArrayEquals(Arrays.copyOf(SharedData.ints(golden.get("generated_ids")), 24), SharedData.ints(b.get("generated_ids")));
        }
        // The Hub is gone: the cached model runs offline, and every command that loads a model takes -hf.
        CliTest.Result offline = run("perplexity", "-hf", REPO + ":" + F32, "--offline", "--cache-dir", cache.toString(),
                "-f", SharedData.golden("ppl_text.txt").toString(), "--ctx-size", "128");
        assertEquals(0, offline.code(), offline.err());
        CliTest.assertPrintsLlamaPerplexityFigures(offline.out(), "ppl_stories260K_f32_noamx_build.log");
    }

    /** At most one of -m and -hf; neither means the bundled demo model (issue 19). */
    @Test
    void atMostOneOfModelOrHf() {
        assertOneLineError(run("generate", "-m", SharedData.model(F32).toString(), "-hf", REPO, "-p", "hi"), "not both");
        CliTest.Result neither = run("generate", "-p", "hi", "-n", "2");
        assertEquals(0, neither.code(), neither.err());
        assertTrue(neither.err().contains("using the bundled TinyStories-260K demo model"), neither.err());
    }

    @Test
    void offlineWithoutTheModelIsOneLine() {
        assertOneLineError(run("generate", "-hf", REPO + ":Q4_K_M", "--offline", "--cache-dir", cache.toString(), "-p", "hi"),
                REPO + ":Q4_K_M", "not in the cache", "offline");
    }

    @Test
    void anUnreachableHubIsOneLineAndTheTokenIsNeverPrinted() throws IOException {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        String token = "hf_verySecretToken42";
        CliTest.Result r = run("pull", REPO + ":f32", "--endpoint", "http://127.0.0.1:" + deadPort, "--token", token,
                "--cache-dir", cache.toString(), "--retries", "2");
        String[] lines = r.err().strip().split("\n");
        assertEquals(2, r.code(), r.err());
        assertTrue(lines[0].contains("trying again in 0.5 s (attempt 2 of 2)"), r.err());
        assertTrue(lines[lines.length - 1].startsWith("jllm: cannot get the listing of " + REPO), r.err());
        assertTrue(lines[lines.length - 1].contains("not in the cache"), r.err());
        CliTest.Result verbose = run("pull", REPO + ":f32", "--endpoint", "http://127.0.0.1:" + deadPort, "--token", token,
                "--cache-dir", cache.toString(), "--retries", "1", "--verbose");
        assertTrue(verbose.err().contains("\tat "), "stack trace with --verbose");
        for (CliTest.Result x : new CliTest.Result[] {r, verbose}) {
            assertFalse(x.out().contains(token) || x.err().contains(token), x.err());
        }
    }

    @Test
    void aBadReferenceIsOneLine() {
        assertOneLineError(run("pull", "../../etc", "--cache-dir", cache.toString()), "not a Hugging Face repository id");
        assertOneLineError(run("pull", "org/repo:../x.gguf", "--cache-dir", cache.toString()), "not a file path inside a repository");
        assertOneLineError(run("pull", "org/repo", "--revision", "../main", "--cache-dir", cache.toString(), "--offline"),
                "--revision");
    }

    @Test
    void plainProgressLinesWhenNotATerminal() {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream err = new java.io.PrintStream(bytes, true, StandardCharsets.UTF_8);
        CliProgress progress = new CliProgress(err, false);
        progress.started("model.gguf", 10L << 20, 2L << 20);
        progress.progress("model.gguf", 3L << 20);
        progress.finished("model.gguf", 10L << 20, "SHA-256", Path.of("/cache/model.gguf"));
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertEquals("jllm: downloading model.gguf (10.0 MiB), resuming at 2.0 MiB\n"
                + "jllm: model.gguf: 10.0 MiB, SHA-256 verified: /cache/model.gguf\n", text);
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
