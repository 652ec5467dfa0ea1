package dev.jllm.cli;

import static dev.jllm.cli.CliTest.assertOneLineError;
import static dev.jllm.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.hub.FakeHub;
import dev.jllm.hub.HostileHub;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18, items 2, 4, 5 and 7: a Hub mirror that streams for ever, drips, lies about sizes or sends names with
 * terminal escapes, and a model cache with links planted in it. Each pull ends at the bound meant for it, named in
 * one line, with exit code 2; nothing is written outside the cache, no file outside it changes, and a failed pull leaves no empty folder.
 */
// A guard against hanging, not a measurement: each refusal is shown by its message (which bound fired), never by how
// long it took, which depends on the machine's load.
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostileHubTest {

    static final String REPO = "evil/mirror";
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String SHA = "a".repeat(64);

    @TempDir
    Path dir;

    private Path cache() {
        return dir.resolve("cache");
    }

    private CliTest.Result pull(HostileHub hub, String ref, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("pull", ref, "--endpoint", hub.endpoint().toString(),
                "--cache-dir", cache().toString()));
        args.addAll(List.of(more));
        return run(args.toArray(String[]::new));
    }

    /**
     * Exit code 2 and, after the progress lines a download prints, one line of error with the fragments; no stack
     * trace.
     */
    static void assertFailsWith(CliTest.Result r, String... fragments) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        List<String> lines = r.err().strip().lines().toList();
        String last = lines.getLast();
        assertTrue(last.startsWith("jllm: "), last);
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), "no stack trace: " + r.err());
        for (String f : fragments) {
            assertTrue(last.contains(f), "'" + f + "' in: " + last);
        }
        assertTrue(lines.stream().limit(lines.size() - 1).allMatch(l -> l.startsWith("jllm: downloading ")
                || l.contains("trying again in")), "the lines before are progress: " + r.err());
    }

    /** The cache holds no file and no empty folder: a failed pull leaves nothing behind. */
    private void assertCacheEmpty() throws IOException {
        if (!Files.exists(cache())) {
            return;
        }
        try (Stream<Path> s = Files.walk(cache())) {
            List<Path> left = s.filter(p -> !p.equals(cache())).toList();
            assertEquals(List.of(), left, "left in the cache");
        }
    }

    @Test
    void anEndlessFileWithoutASizeIsCutAtTheCap() throws IOException {
        try (HostileHub hub = new HostileHub()) {
            hub.on("/api/models/", HostileHub.listing(COMMIT, "model.gguf"))
                    .on("/" + REPO + "/resolve/", HostileHub.endless("", new byte[0], new byte[1 << 16]));
            CliTest.Result r = pull(hub, REPO);
            assertFailsWith(r, "more than 67108864 bytes without announcing a size");
            assertCacheEmpty();
        }
    }

    @Test
    void moreBytesThanAnnouncedAreRefused() throws IOException {
        try (HostileHub hub = new HostileHub()) {
            hub.on("/api/models/", HostileHub.listing(COMMIT, "model.gguf"))
                    .on("/" + REPO + "/resolve/", HostileHub.endless("X-Linked-Size: 1000\r\nX-Linked-Etag: \"" + SHA
                            + "\"\r\n", new byte[0], new byte[1 << 16]));
            assertFailsWith(pull(hub, REPO), "more than the 1000 bytes announced");
            assertCacheEmpty();
        }
    }

    @Test
    void anEndlessListingIsRefusedAtItsCap() throws IOException {
        try (HostileHub hub = new HostileHub()) {
            byte[] entry = "{\"rfilename\":\"a.gguf\"},".repeat(1000).getBytes(StandardCharsets.US_ASCII);
            hub.on("/api/models/", HostileHub.endless("", "{\"siblings\":[".getBytes(StandardCharsets.US_ASCII), entry));
            assertOneLineError(pull(hub, REPO), "a listing larger than 16777216 bytes");
            assertCacheEmpty();
        }
    }

    @Test
    void aDrippingListingEndsAtTheTimeout() throws IOException {
        try (HostileHub hub = new HostileHub()) {
            hub.on("/api/models/", HostileHub.drip("", 200));
            assertFailsWith(pull(hub, REPO, "--hub-timeout", "1", "--retries", "2"), "took longer than 1.0 s",
                    "after 2 attempts");
            assertCacheEmpty();
        }
    }

    @Test
    void aDrippingDownloadIsCutBelowTheMinimumRate() throws IOException {
        try (HostileHub hub = new HostileHub()) {
            hub.on("/api/models/", HostileHub.listing(COMMIT, "model.gguf"))
                    .on("/" + REPO + "/resolve/", HostileHub.drip("X-Linked-Size: 1000000\r\nX-Linked-Etag: \"" + SHA
                            + "\"\r\n", 100));
            CliTest.Result r = pull(hub, REPO, "--hub-timeout", "1", "--retries", "2");
            assertFailsWith(r, "below the minimum of 1024 bytes/s", "after 2 attempts");
            // the few bytes received are kept for a resume, as for any interrupted download
            try (Stream<Path> s = Files.walk(cache())) {
                assertTrue(s.filter(Files::isRegularFile).allMatch(p -> p.toString().endsWith(".part")));
            }
        }
    }

    @Test
    void aFileTheMirrorDoesNotServeLeavesNoEmptyFolder() throws IOException {
        try (HostileHub hub = new HostileHub()) {
            hub.on("/api/models/", HostileHub.listing(COMMIT, "model.gguf"));
            assertOneLineError(pull(hub, REPO), "model.gguf", "not found");
            assertCacheEmpty();
        }
    }

    @Test
    void aCorruptedDownloadLeavesNoEmptyFolder() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            hub.repo(REPO, COMMIT).file("stories260K-f32.gguf", SharedData.model("stories260K-f32.gguf"), true);
            hub.corruptAt(1000);
            CliTest.Result r = run("pull", REPO, "--endpoint", hub.endpoint().toString(), "--cache-dir",
                    cache().toString(), "--retries", "1");
            assertFailsWith(r, "corrupt");
            assertCacheEmpty();
        }
    }

    /** Names with terminal escapes are refused, and the message that says so shows them escaped. */
    @Test
    void escapesInAListingNeverReachTheTerminal() throws IOException {
        String evil = "evil\u001b]0;pwned\u0007\u001b[2J\u202e.gguf";
        try (HostileHub hub = new HostileHub()) {
            hub.on("/api/models/", HostileHub.listing(COMMIT, evil));
            CliTest.Result r = pull(hub, REPO);
            assertOneLineError(r, "evil\\x1b]0;pwned\\x07\\x1b[2J\\u202e.gguf", "not a file path inside a repository");
            assertNoControlCharacters(r.err());
            assertCacheEmpty();
        }
    }

    static void assertNoControlCharacters(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean control = (c < 0x20 && c != '\n') || (c >= 0x7f && c < 0xa0) || Character.getType(c) == Character.FORMAT;
            assertFalse(control, String.format("U+%04X at %d in: %s", (int) c, i, text));
        }
    }

    // ---- links planted in the cache ----

    static final String GGUF_REPO = "test-org/stories260K-GGUF";
    static final String F32 = "stories260K-f32.gguf";

    private FakeHub fakeHub() throws IOException {
        FakeHub hub = new FakeHub();
        hub.repo(GGUF_REPO, COMMIT).file(F32, SharedData.model(F32), true);
        return hub;
    }

    private CliTest.Result pull(FakeHub hub) {
        return run("pull", GGUF_REPO + ":" + F32, "--endpoint", hub.endpoint().toString(), "--cache-dir",
                cache().toString());
    }

    private Path repoDir() {
        return cache().resolve("models--test-org--stories260K-GGUF");
    }

    private Path victim() throws IOException {
        Path victim = dir.resolve("home/victim.bin");
        Files.createDirectories(victim.getParent());
        Files.write(victim, new byte[2 << 20]);
        return victim;
    }

    private static void assertUntouched(Path victim) throws IOException {
        assertTrue(Files.isRegularFile(victim, LinkOption.NOFOLLOW_LINKS));
        assertArrayEquals(new byte[2 << 20], Files.readAllBytes(victim), "the linked file is unchanged");
    }

    @Test
    void aLinkPlantedAtThePartialFileIsNeverWrittenThrough() throws IOException {
        Path victim = victim();
        Path part = repoDir().resolve("partial/" + COMMIT + "/" + F32 + ".part");
        Files.createDirectories(part.getParent());
        Files.createSymbolicLink(part, victim);
        try (FakeHub hub = fakeHub()) {
            assertOneLineError(pull(hub), part.toString(), "symbolic link");
            assertUntouched(victim);
            assertTrue(Files.isSymbolicLink(part), "refused, not removed: the user decides");
        }
    }

    @Test
    void aLinkedSnapshotFolderIsNotWhereTheDownloadGoes() throws IOException {
        Path elsewhere = dir.resolve("elsewhere");
        Files.createDirectories(elsewhere);
        Path snapshot = repoDir().resolve("snapshots/" + COMMIT);
        Files.createDirectories(snapshot.getParent());
        Files.createSymbolicLink(snapshot, elsewhere);
        try (FakeHub hub = fakeHub()) {
            assertOneLineError(pull(hub), snapshot.toString(), "symbolic link");
            try (Stream<Path> s = Files.list(elsewhere)) {
                assertEquals(0, s.count(), "nothing written into the folder the link points to");
            }
        }
    }

    @Test
    void aLinkPlantedAsACachedFileIsNotLoaded() throws IOException {
        Path victim = victim();
        Path file = repoDir().resolve("snapshots/" + COMMIT + "/" + F32);
        Files.createDirectories(file.getParent());
        Files.createSymbolicLink(file, victim);
        Path ref = repoDir().resolve("refs/main");
        Files.createDirectories(ref.getParent());
        Files.writeString(ref, COMMIT + "\n");
        try (FakeHub hub = fakeHub()) {
            assertOneLineError(pull(hub), file.toString(), "symbolic link");
            assertOneLineError(run("generate", "-hf", GGUF_REPO + ":" + F32, "--offline", "--cache-dir",
                    cache().toString(), "-p", "hi"), "symbolic link");
            assertUntouched(victim);
        }
    }

    @Test
    void aLinkedRefIsNotFollowed() throws IOException {
        Path victim = victim();
        Path ref = repoDir().resolve("refs/main");
        Files.createDirectories(ref.getParent());
        Files.createSymbolicLink(ref, victim);
        try (FakeHub hub = fakeHub()) {
            assertOneLineError(pull(hub), ref.toString(), "symbolic link");
            assertUntouched(victim);
        }
    }

    @Test
    void listAndRmNeitherFollowNorShowWhatIsPlanted() throws IOException {
        Path victim = victim();
        try (FakeHub hub = fakeHub()) {
            assertEquals(0, pull(hub).code());
        }
        Path snapshot = repoDir().resolve("snapshots/" + COMMIT);
        Files.createSymbolicLink(snapshot.resolve("linked.gguf"), victim);
        Files.write(snapshot.resolve("evil\u001b[2J.gguf"), new byte[3]);
        CliTest.Result list = run("list", "--cache-dir", cache().toString());
        assertEquals(0, list.code(), list.err());
        assertFalse(list.out().contains("linked.gguf"), list.out());
        assertTrue(list.out().contains("evil\\x1b[2J.gguf"), list.out());
        assertNoControlCharacters(list.out());
        CliTest.Result rm = run("rm", GGUF_REPO, "--cache-dir", cache().toString());
        assertEquals(0, rm.code(), rm.err());
        assertFalse(Files.exists(repoDir(), LinkOption.NOFOLLOW_LINKS));
        assertUntouched(victim);
    }
}
