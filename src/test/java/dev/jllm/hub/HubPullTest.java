package dev.jllm.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pulls against a real HTTP server on the loopback interface laid out as the Hugging Face Hub (see {@link FakeHub}):
 * files arrive byte for byte, interrupted transfers resume with a Range request, corrupted ones are discarded, and the
 * cache never holds a partial file under a final name.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HubPullTest {

    static final String GGUF_REPO = "test-org/stories260K-GGUF";
    static final String GGUF_COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String HF_REPO = "test-org/tiny-llama-hf";
    static final String HF_COMMIT = "89abcdef0123456789abcdef0123456789abcdef";
    static final String F32 = "stories260K-f32.gguf";

    @TempDir
    Path cacheRoot;

    /** The GGUF repository: three quantizations of stories260K (stored as LFS) and a README. */
    static FakeHub.Repo ggufRepo(FakeHub hub) {
        return hub.repo(GGUF_REPO, GGUF_COMMIT)
                .file("README.md", "# stories260K\n".getBytes(StandardCharsets.UTF_8), false)
                .file(F32, SharedData.model(F32), true)
                .file("stories260K-q8_0-mixed.gguf", SharedData.model("stories260K-q8_0-mixed.gguf"), true)
                .file("stories260K-q4_0-mixed.gguf", SharedData.model("stories260K-q4_0-mixed.gguf"), true);
    }

    HubClient.Options options(FakeHub hub) {
        return HubClient.Options.defaults().withEndpoint(hub.endpoint())
                .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5))
                .withRetries(3, Duration.ofMillis(10));
    }

    ModelPuller puller(HubClient.Options options) {
        return new ModelPuller(new ModelCache(cacheRoot), options, TransferListener.NONE);
    }

    Path snapshot(String repo, String commit) {
        return cacheRoot.resolve("models--" + repo.replace("/", "--")).resolve("snapshots").resolve(commit);
    }

    @Test
    void pullsAGgufPickedByQuantizationThroughTheRedirect() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            PulledModel m = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":Q8_0"), "main", false);
            Path expected = snapshot(GGUF_REPO, GGUF_COMMIT).resolve("stories260K-q8_0-mixed.gguf");
            assertEquals(expected, m.path());
            assertFalse(m.fromCache());
            assertEquals(GGUF_COMMIT, m.commit());
            assertArrayEquals(Files.readAllBytes(SharedData.model("stories260K-q8_0-mixed.gguf")), Files.readAllBytes(m.path()));
            assertEquals(GGUF_COMMIT, Files.readString(cacheRoot.resolve("models--test-org--stories260K-GGUF/refs/main")).strip());
            // the Hub redirected the LFS file to the storage server, which served it whole
            List<FakeHub.Request> cdn = hub.requests("cdn");
            assertEquals(1, cdn.size(), cdn.toString());
            assertNull(cdn.getFirst().range());
            assertTrue(hub.requests("hub").stream().anyMatch(r -> r.path().equals("/" + GGUF_REPO + "/resolve/"
                    + GGUF_COMMIT + "/stories260K-q8_0-mixed.gguf")), "files are fetched at the listed commit");
            assertNoPartialFiles();

            // Cached: the same reference touches no network, with or without offline mode.
            int before = hub.requests().size();
            PulledModel again = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":Q8_0"), "main", false);
            PulledModel offline = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":stories260K-q8_0-mixed.gguf"), "main", true);
            assertTrue(again.fromCache() && offline.fromCache());
            assertEquals(expected, again.path());
            assertEquals(expected, offline.path());
            assertEquals(before, hub.requests().size(), "no request for a cached model");
        }
    }

    /** A file whose name says IQ2_XXS (a type jllm has no kernel for) is refused before any download. */
    @Test
    void aQuantizationJllmCannotRunIsRefusedBeforeDownloading() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            hub.repo(GGUF_REPO, GGUF_COMMIT)
                    .file("model.IQ2_XXS.gguf", SharedData.model(F32), true)
                    .file("model-iq3_m.gguf", SharedData.model(F32), true)
                    .file("model.Q4_K_M.gguf", SharedData.model(F32), true);
            ModelPuller puller = puller(options(hub));
            HubException iq2 = assertThrows(HubException.class,
                    () -> puller.pull(ModelRef.parse(GGUF_REPO + ":IQ2_XXS"), "main", false));
            assertOneLine(iq2, "model.IQ2_XXS.gguf is IQ2_XXS", "no kernel", "Q4_K", "IQ4_XS");
            HubException iq3 = assertThrows(HubException.class,
                    () -> puller.pull(ModelRef.parse(GGUF_REPO + ":iq3_m"), "main", false));
            assertOneLine(iq3, "is IQ3_M, made of IQ3_S tensors");
            assertTrue(hub.requests("cdn").isEmpty(), "nothing downloaded");
            PulledModel k = puller.pull(ModelRef.parse(GGUF_REPO + ":Q4_K_M"), "main", false);
            assertTrue(Files.isRegularFile(k.path()), "a K-quant name passes");
        }
    }

    @Test
    void anAmbiguousChoiceListsTheGgufFilesOnOneLine() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            ModelPuller puller = puller(options(hub));
            HubException none = assertThrows(HubException.class, () -> puller.pull(ModelRef.parse(GGUF_REPO), "main", false));
            assertOneLine(none, "3 GGUF files", F32, "stories260K-q8_0-mixed.gguf", "stories260K-q4_0-mixed.gguf");
            HubException several = assertThrows(HubException.class, () -> puller.pull(ModelRef.parse(GGUF_REPO + ":mixed"), "main", false));
            assertOneLine(several, "matches 2", "stories260K-q8_0-mixed.gguf", "stories260K-q4_0-mixed.gguf");
            HubException missing = assertThrows(HubException.class, () -> puller.pull(ModelRef.parse(GGUF_REPO + ":Q5_K_M"), "main", false));
            assertOneLine(missing, "no file matching 'Q5_K_M'", F32);
            assertTrue(hub.requests("cdn").isEmpty(), "nothing downloaded");
        }
    }

    @Test
    void pullsAShardedHuggingFaceDirectory(@TempDir Path source) throws IOException {
        Map<String, byte[]> files = hfModelFiles();
        try (FakeHub hub = new FakeHub()) {
            FakeHub.Repo repo = hub.repo(HF_REPO, HF_COMMIT);
            repo.file(".gitattributes", "*.safetensors filter=lfs\n".getBytes(StandardCharsets.UTF_8), false);
            repo.file("README.md", "a tiny model\n".getBytes(StandardCharsets.UTF_8), false);
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                repo.file(f.getKey(), f.getValue(), f.getKey().endsWith(".safetensors"));
            }
            // not part of the model: an extra weights file the index does not name, and the original checkpoint
            repo.file("other-experiment.safetensors", safetensors("x", 5, new Random(3)), true);
            repo.file("original/consolidated.00.pth", new byte[1000], true);

            Map<String, String> checksums = new HashMap<>();
            PulledModel m = new ModelPuller(new ModelCache(cacheRoot), options(hub), new TransferListener() {
                @Override
                public void finished(String file, long bytes, String checksum, Path path) {
                    checksums.put(file, checksum);
                }
            }).pull(ModelRef.parse(HF_REPO), "main", false);
            Path dir = snapshot(HF_REPO, HF_COMMIT);
            assertEquals(files.keySet(), checksums.keySet());
            checksums.forEach((file, checksum) -> assertEquals(file.endsWith(".safetensors") ? "SHA-256" : "git blob id",
                    checksum, file));
            assertEquals(dir, m.path());
            assertEquals(files.size(), m.files().size());
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                assertArrayEquals(f.getValue(), Files.readAllBytes(dir.resolve(f.getKey())), f.getKey());
            }
            try (Stream<Path> all = Files.walk(dir)) {
                assertEquals(files.size(), all.filter(Files::isRegularFile).count(), "only the model's files");
            }
            assertEquals(2, hub.requests("cdn").size(), "the two shards came from storage");
            assertNoPartialFiles();

            int before = hub.requests().size();
            PulledModel cached = puller(options(hub)).pull(ModelRef.parse(HF_REPO), "main", true);
            assertEquals(dir, cached.path());
            assertEquals(files.size(), cached.files().size());
            assertEquals(before, hub.requests().size());
        }
    }

    @Test
    void aDirectoryMissingAShardIsNotTakenFromTheCache() throws IOException {
        Map<String, byte[]> files = hfModelFiles();
        try (FakeHub hub = new FakeHub()) {
            FakeHub.Repo repo = hub.repo(HF_REPO, HF_COMMIT);
            files.forEach((name, bytes) -> repo.file(name, bytes, name.endsWith(".safetensors")));
            puller(options(hub)).pull(ModelRef.parse(HF_REPO), "main", false);
            Files.delete(snapshot(HF_REPO, HF_COMMIT).resolve("model-00002-of-00002.safetensors"));
            HubException offline = assertThrows(HubException.class,
                    () -> puller(options(hub)).pull(ModelRef.parse(HF_REPO), "main", true));
            assertOneLine(offline, "not in the cache", "offline");
            PulledModel again = puller(options(hub)).pull(ModelRef.parse(HF_REPO), "main", false);
            assertFalse(again.fromCache());
            assertArrayEquals(files.get("model-00002-of-00002.safetensors"),
                    Files.readAllBytes(again.path().resolve("model-00002-of-00002.safetensors")));
        }
    }

    @Test
    void resumesAfterTheServerIsKilledMidTransfer() throws Exception {
        byte[] expected = Files.readAllBytes(SharedData.model(F32));
        long cut = 400_000;
        try (FakeHub first = new FakeHub()) {
            ggufRepo(first);
            first.pauseAfter(cut);
            // no retries: the failed pull must leave its partial file for the next run
            ModelPuller puller = puller(options(first).withRetries(1, Duration.ofMillis(10)));
            CompletableFuture<PulledModel> pull = CompletableFuture.supplyAsync(
                    () -> puller.pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false));
            assertTrue(first.awaitPaused(20), "the transfer started");
            assertNoPartialFiles(); // mid-transfer: nothing under a final name
            assertTrue(waitForPartSize(cut), "the first bytes reached the partial file");
            first.kill();
            Exception e = assertThrows(Exception.class, () -> pull.get(20, TimeUnit.SECONDS));
            HubException failure = assertInstanceOfHub(e.getCause());
            assertOneLine(failure, "cannot download", "kept");
        }
        Path part = partFile(GGUF_REPO, GGUF_COMMIT, F32);
        assertEquals(cut, Files.size(part), "the bytes received are kept");
        assertFalse(Files.exists(snapshot(GGUF_REPO, GGUF_COMMIT).resolve(F32)));
        assertNoPartialFiles();

        try (FakeHub second = new FakeHub()) { // a new server, on another port
            ggufRepo(second);
            PulledModel m = puller(options(second)).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false);
            assertArrayEquals(expected, Files.readAllBytes(m.path()));
            List<FakeHub.Request> cdn = second.requests("cdn");
            assertEquals(1, cdn.size(), cdn.toString());
            assertEquals("bytes=" + cut + "-", cdn.getFirst().range(), "the second pull resumed with a Range request");
            assertFalse(Files.exists(part));
            assertNoPartialFiles();
        }
    }

    @Test
    void aCutConnectionIsResumedWithinOnePull() throws IOException {
        byte[] expected = Files.readAllBytes(SharedData.model(F32));
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.cutAfter(300_000, 2);
            List<String> retries = new ArrayList<>();
            ModelPuller puller = new ModelPuller(new ModelCache(cacheRoot), options(hub), new TransferListener() {
                @Override
                public void retrying(String what, String reason, int nextAttempt, int maxAttempts, Duration wait) {
                    retries.add(what + ": " + reason);
                }
            });
            PulledModel m = puller.pull(ModelRef.parse(GGUF_REPO + ":f32"), "main", false);
            assertArrayEquals(expected, Files.readAllBytes(m.path()));
            List<FakeHub.Request> cdn = hub.requests("cdn");
            assertEquals(3, cdn.size(), cdn.toString());
            assertNull(cdn.get(0).range());
            // each retry asks for the rest only, from where the bytes on disk end
            long first = rangeStart(cdn.get(1));
            long second = rangeStart(cdn.get(2));
            assertTrue(first > 0 && first <= 300_000 && second > first && second <= 600_000, cdn.toString());
            assertEquals(2, retries.size(), retries.toString());
            // Cuts are seen at once, as the end of the stream, not by the 5 s read timeout.
            for (String retry : retries) {
                assertFalse(retry.contains("no data for") || retry.contains("below the minimum")
                        || retry.contains("took longer"), retry);
            }
            assertNoPartialFiles();
        }
    }

    /**
     * A transfer that stops sending is cut by the read timeout and resumed. The stalled connection stays open until the
     * test releases it, so the pull can only have finished by cutting it; nothing here depends on how long anything
     * takes. (A loaded machine may add a timeout of its own to a later attempt: each retry must still be a timeout, and
     * each resume starts where the bytes on disk end.)
     */
    @Test
    void aStalledTransferTimesOutAndResumes() throws IOException {
        byte[] expected = Files.readAllBytes(SharedData.model(F32));
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.stallAfter(200_000, 1);
            HubClient.Options o = options(hub).withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(1));
            List<String> reasons = new ArrayList<>();
            PulledModel m = new ModelPuller(new ModelCache(cacheRoot), o, new TransferListener() {
                @Override
                public void retrying(String what, String reason, int nextAttempt, int maxAttempts, Duration wait) {
                    reasons.add(reason);
                }
            }).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false);
            assertEquals(1, hub.stallsHeld(), "the stalled body still holds its connection: the client cut it");
            hub.releaseStalls();
            assertArrayEquals(expected, Files.readAllBytes(m.path()));
            assertFalse(reasons.isEmpty());
            for (String reason : reasons) {
                assertTrue(reason.equals("no data for 1.0 s") || reason.endsWith("below the minimum of 1024 bytes/s"),
                        reasons.toString());
            }
            List<FakeHub.Request> cdn = hub.requests("cdn");
            assertEquals(reasons.size() + 1, cdn.size(), cdn.toString());
            assertNull(cdn.getFirst().range());
            assertTrue(rangeStart(cdn.get(1)) > 0 && rangeStart(cdn.get(1)) <= 200_000,
                    "resumed from the bytes received before the stall: " + cdn);
        }
    }

    @Test
    void aCorruptedTransferIsDetectedAndNotKept() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.corruptAt(123_456);
            HubException e = assertThrows(HubException.class,
                    () -> puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false));
            assertOneLine(e, F32, "corrupt", "SHA-256", FakeHub.sha256(Files.readAllBytes(SharedData.model(F32))));
            assertFalse(Files.exists(snapshot(GGUF_REPO, GGUF_COMMIT).resolve(F32)), "not under its final name");
            assertFalse(Files.exists(partFile(GGUF_REPO, GGUF_COMMIT, F32)), "not kept to resume from either");
            assertNoPartialFiles();

            hub.corruptAt(-1);
            PulledModel m = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false);
            assertArrayEquals(Files.readAllBytes(SharedData.model(F32)), Files.readAllBytes(m.path()));
            assertNull(hub.requests("cdn").getLast().range(), "started afresh");
        }
    }

    @Test
    void aCorruptedSmallFileFailsItsGitBlobId() throws IOException {
        Map<String, byte[]> files = hfModelFiles();
        try (FakeHub hub = new FakeHub()) {
            FakeHub.Repo repo = hub.repo(HF_REPO, HF_COMMIT);
            files.forEach((name, bytes) -> repo.file(name, bytes, name.endsWith(".safetensors")));
            hub.corruptSmallFiles(true);
            HubException e = assertThrows(HubException.class, () -> puller(options(hub)).pull(ModelRef.parse(HF_REPO), "main", false));
            assertOneLine(e, "config.json", "corrupt", "git blob id", FakeHub.gitBlobId(files.get("config.json")));
            assertNoPartialFiles();
            assertFalse(Files.exists(snapshot(HF_REPO, HF_COMMIT).resolve("config.json")));
        }
    }

    @Test
    void aResumedFileWithWrongBytesOnDiskFailsVerification() throws IOException {
        byte[] expected = Files.readAllBytes(SharedData.model(F32));
        Path part = partFile(GGUF_REPO, GGUF_COMMIT, F32);
        Files.createDirectories(part.getParent());
        byte[] wrong = java.util.Arrays.copyOf(expected, 500_000);
        wrong[1000] ^= 1;
        Files.write(part, wrong);
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            HubException e = assertThrows(HubException.class,
                    () -> puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false));
            assertOneLine(e, "corrupt");
            assertEquals("bytes=500000-", hub.requests("cdn").getFirst().range());
            assertFalse(Files.exists(part));
            assertNoPartialFiles();
        }
    }

    @Test
    void aServerThatIgnoresRangesSendsAllAndTheFileStillVerifies() throws IOException {
        byte[] expected = Files.readAllBytes(SharedData.model(F32));
        Path part = partFile(GGUF_REPO, GGUF_COMMIT, F32);
        Files.createDirectories(part.getParent());
        Files.write(part, java.util.Arrays.copyOf(expected, 250_000));
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.ignoreRange(true);
            PulledModel m = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false);
            assertArrayEquals(expected, Files.readAllBytes(m.path()));
            assertEquals("bytes=250000-", hub.requests("cdn").getFirst().range());
        }
    }

    @Test
    void aCompletePartialFileIsVerifiedAndMovedWithoutTransfer() throws IOException {
        byte[] expected = Files.readAllBytes(SharedData.model(F32));
        Path part = partFile(GGUF_REPO, GGUF_COMMIT, F32);
        Files.createDirectories(part.getParent());
        Files.write(part, expected); // a run that died between the last byte and the rename
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            PulledModel m = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false);
            assertArrayEquals(expected, Files.readAllBytes(m.path()));
            assertEquals("bytes=" + expected.length + "-", hub.requests("cdn").getFirst().range()); // answered 416
        }
    }

    @Test
    void transientErrorsAreRetriedWithExponentialBackoff() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.unavailable(2);
            List<Duration> waits = new ArrayList<>();
            ModelPuller puller = new ModelPuller(new ModelCache(cacheRoot), options(hub).withRetries(4, Duration.ofMillis(20)),
                    new TransferListener() {
                        @Override
                        public void retrying(String what, String reason, int nextAttempt, int maxAttempts, Duration wait) {
                            assertTrue(reason.contains("503"), reason);
                            waits.add(wait);
                        }
                    });
            PulledModel m = puller.pull(ModelRef.parse(GGUF_REPO + ":q4_0"), "main", false);
            assertTrue(Files.isRegularFile(m.path()));
            assertEquals(List.of(Duration.ofMillis(20), Duration.ofMillis(40)), waits);

            hub.unavailable(10);
            HubException e = assertThrows(HubException.class, () -> puller.pull(ModelRef.parse(GGUF_REPO + ":f32"), "main", false));
            assertOneLine(e, "503", "after 4 attempts");
        }
    }

    @Test
    void theTokenGoesToTheHubOnlyAndIsNeverShown() throws IOException {
        String token = "hf_SECRETtoken123";
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.requireToken(token);
            HubException refused = assertThrows(HubException.class,
                    () -> puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":f32"), "main", false));
            assertOneLine(refused, "401", "HF_TOKEN");

            PulledModel m = puller(options(hub).withToken(token)).pull(ModelRef.parse(GGUF_REPO + ":f32"), "main", false);
            assertTrue(Files.isRegularFile(m.path()));
            assertTrue(hub.requests("hub").stream().skip(1).allMatch(r -> ("Bearer " + token).equals(r.authorization())));
            assertFalse(hub.requests("cdn").isEmpty());
            assertTrue(hub.requests("cdn").stream().allMatch(r -> r.authorization() == null),
                    "the storage server the Hub redirects to never sees the token");

            HubException wrong = assertThrows(HubException.class,
                    () -> puller(options(hub).withToken("hf_wrong")).pull(ModelRef.parse(GGUF_REPO + ":q8_0"), "main", false));
            assertOneLine(wrong, "401", "refused");
            HubException notFound = assertThrows(HubException.class,
                    () -> puller(options(hub).withToken(token)).pull(ModelRef.parse("test-org/nothing-here"), "main", false));
            assertOneLine(notFound, "not found");
            for (HubException e : List.of(refused, wrong, notFound)) {
                assertFalse(e.getMessage().contains(token) || e.getMessage().contains("hf_wrong"), e.getMessage());
            }
            assertFalse(options(hub).withToken(token).toString().contains(token));
        }
    }

    @Test
    void withoutNetworkAndWithoutTheFileTheErrorIsOneLine() throws IOException {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        HubClient.Options o = HubClient.Options.defaults().withEndpoint(URI.create("http://127.0.0.1:" + deadPort))
                .withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(2)).withRetries(2, Duration.ofMillis(10));
        HubException e = assertThrows(HubException.class, () -> puller(o).pull(ModelRef.parse(GGUF_REPO + ":f32"), "main", false));
        assertOneLine(e, "cannot get", "127.0.0.1:" + deadPort, "not in the cache", "-m");

        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            HubException offline = assertThrows(HubException.class,
                    () -> puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":f32"), "main", true));
            assertOneLine(offline, "not in the cache", "offline");
            assertTrue(hub.requests().isEmpty(), "offline: no request at all");
        }
    }

    @Test
    void aPinnedCommitIsFetchedAndCachedByCommit() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            PulledModel m = puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":q4_0"), GGUF_COMMIT, false);
            assertEquals(snapshot(GGUF_REPO, GGUF_COMMIT).resolve("stories260K-q4_0-mixed.gguf"), m.path());
            assertTrue(hub.requests("hub").getFirst().path().endsWith("/revision/" + GGUF_COMMIT));
            HubException e = assertThrows(HubException.class,
                    () -> puller(options(hub)).pull(ModelRef.parse(GGUF_REPO + ":q4_0"), "v2.0", false));
            assertOneLine(e, "revision v2.0", "not found");
        }
    }

    @Test
    void aListingThatPointsOutsideTheRepositoryIsRefused() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            hub.repo("evil/repo", GGUF_COMMIT).file("../../escape.gguf", new byte[10], false);
            HubException e = assertThrows(HubException.class, () -> puller(options(hub)).pull(ModelRef.parse("evil/repo"), "main", false));
            assertOneLine(e, "escape.gguf", "not a file path inside a repository");
            try (Stream<Path> all = Files.walk(cacheRoot.getParent(), 2)) {
                assertTrue(all.noneMatch(p -> p.getFileName().toString().startsWith("escape")));
            }
        }
    }

    @Test
    void twoPullsOfOneFileDoNotWriteTheSamePartialFile() throws Exception {
        try (FakeHub hub = new FakeHub()) {
            ggufRepo(hub);
            hub.pauseAfter(100_000);
            ModelPuller puller = puller(options(hub).withRetries(1, Duration.ofMillis(10)));
            CompletableFuture<PulledModel> first = CompletableFuture.supplyAsync(
                    () -> puller.pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false));
            assertTrue(hub.awaitPaused(20));
            HubException busy = assertThrows(HubException.class,
                    () -> puller.pull(ModelRef.parse(GGUF_REPO + ":" + F32), "main", false));
            assertOneLine(busy, "another jllm is downloading");
            hub.kill();
            assertThrows(Exception.class, () -> first.get(20, TimeUnit.SECONDS));
            assertNoPartialFiles();
        }
    }

    // ---- helpers ----

    /** A small Hugging Face model directory: config, tokenizer files, an index and two safetensors shards. */
    static Map<String, byte[]> hfModelFiles() {
        Random random = new Random(42);
        Map<String, byte[]> files = new HashMap<>();
        files.put("config.json", """
                {"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "vocab_size": 16, "model_type": "llama"}
                """.getBytes(StandardCharsets.UTF_8));
        files.put("generation_config.json", "{\"bos_token_id\": 1, \"eos_token_id\": 2}".getBytes(StandardCharsets.UTF_8));
        files.put("tokenizer.json", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"
                .getBytes(StandardCharsets.UTF_8));
        files.put("tokenizer_config.json", "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}".getBytes(StandardCharsets.UTF_8));
        files.put("model-00001-of-00002.safetensors", safetensors("model.embed_tokens.weight", 16 * 8, random));
        files.put("model-00002-of-00002.safetensors", safetensors("lm_head.weight", 16 * 8, random));
        files.put("model.safetensors.index.json", """
                {"metadata": {"total_size": 1024},
                 "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                                "lm_head.weight": "model-00002-of-00002.safetensors"}}
                """.getBytes(StandardCharsets.UTF_8));
        return files;
    }

    /** A safetensors file with one F32 tensor: 8-byte header length, JSON header, data. */
    static byte[] safetensors(String name, int floats, Random random) {
        byte[] header = ("{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + floats + "],\"data_offsets\":[0,"
                + 4 * floats + "]}}").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 4 * floats).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        for (int i = 0; i < floats; i++) {
            b.putFloat((float) random.nextGaussian());
        }
        return b.array();
    }

    Path partFile(String repo, String commit, String file) {
        return cacheRoot.resolve("models--" + repo.replace("/", "--")).resolve("partial").resolve(commit).resolve(file + ".part");
    }

    private boolean waitForPartSize(long size) throws InterruptedException, IOException {
        Path part = partFile(GGUF_REPO, GGUF_COMMIT, F32);
        for (int i = 0; i < 400; i++) {
            if (Files.exists(part) && Files.size(part) >= size) {
                return true;
            }
            Thread.sleep(25);
        }
        return false;
    }

    /**
     * Every file under a snapshot is complete and right: it has the bytes of the file of that name in the reference
     * data or in the test model directory.
     */
    void assertNoPartialFiles() throws IOException {
        Map<String, byte[]> hf = hfModelFiles();
        try (Stream<Path> all = Files.walk(cacheRoot)) {
            for (Path p : all.filter(Files::isRegularFile).toList()) {
                Path rel = cacheRoot.relativize(p);
                if (rel.getNameCount() < 4 || !rel.getName(1).toString().equals("snapshots")) {
                    assertTrue(rel.getNameCount() >= 2 && (rel.getName(1).toString().equals("partial")
                            || rel.getName(1).toString().equals("refs") || rel.getName(1).toString().equals("listings")),
                            "unexpected file in the cache: " + rel);
                    if (rel.getName(1).toString().equals("partial")) {
                        assertTrue(p.getFileName().toString().endsWith(".part"), rel.toString());
                    }
                    continue;
                }
                String name = rel.subpath(3, rel.getNameCount()).toString();
                byte[] expected = hf.containsKey(name) ? hf.get(name)
                        : name.endsWith(".gguf") ? Files.readAllBytes(SharedData.model(name)) : null;
                assertNotNull(expected, "unexpected file in a snapshot: " + rel);
                assertArrayEquals(expected, Files.readAllBytes(p), "a snapshot file is complete: " + rel);
            }
        }
    }

    static long rangeStart(FakeHub.Request r) {
        assertNotNull(r.range(), r.toString());
        assertTrue(r.range().matches("bytes=\\d+-"), r.range());
        return Long.parseLong(r.range().substring(6, r.range().length() - 1));
    }

    static HubException assertInstanceOfHub(Throwable t) {
        assertTrue(t instanceof HubException, "a HubException: " + t);
        return (HubException) t;
    }

    static void assertOneLine(Throwable e, String... fragments) {
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "one line: " + m);
        for (String f : fragments) {
            assertTrue(m.contains(f), "'" + f + "' in: " + m);
        }
    }
}
