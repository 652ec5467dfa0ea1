package dev.jllm.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parsing references, choosing files, settings from the environment, and the cache's list and rm. */
class SelectionTest {

    // The file names of TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF, as the Hub lists them.
    static final List<String> TINYLLAMA = List.of(".gitattributes", "README.md", "config.json",
            "tinyllama-1.1b-chat-v1.0.Q2_K.gguf", "tinyllama-1.1b-chat-v1.0.Q3_K_L.gguf",
            "tinyllama-1.1b-chat-v1.0.Q3_K_M.gguf", "tinyllama-1.1b-chat-v1.0.Q3_K_S.gguf",
            "tinyllama-1.1b-chat-v1.0.Q4_0.gguf", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
            "tinyllama-1.1b-chat-v1.0.Q4_K_S.gguf", "tinyllama-1.1b-chat-v1.0.Q5_0.gguf",
            "tinyllama-1.1b-chat-v1.0.Q5_K_M.gguf", "tinyllama-1.1b-chat-v1.0.Q5_K_S.gguf",
            "tinyllama-1.1b-chat-v1.0.Q6_K.gguf", "tinyllama-1.1b-chat-v1.0.Q8_0.gguf");

    static String single(String selector, List<String> files) {
        return ((Selection.SingleFile) Selection.choose("o/r", selector, files)).name();
    }

    @Test
    void quantizationPicksOneGgufFile() {
        assertEquals("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", single("Q4_K_M", TINYLLAMA));
        assertEquals("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", single("q4_k_m", TINYLLAMA));
        assertEquals("tinyllama-1.1b-chat-v1.0.Q8_0.gguf", single("Q8_0", TINYLLAMA));
        assertEquals("tinyllama-1.1b-chat-v1.0.Q6_K.gguf", single("Q6_K", TINYLLAMA));
        assertEquals("tinyllama-1.1b-chat-v1.0.Q4_0.gguf", single("tinyllama-1.1b-chat-v1.0.Q4_0.gguf", TINYLLAMA));
        assertEquals("tinyllama-1.1b-chat-v1.0.Q4_0.gguf", single("TinyLlama-1.1B-Chat-v1.0.Q4_0.gguf", TINYLLAMA));
        assertEquals("config.json", single("config.json", TINYLLAMA));
        HubException k4 = assertThrows(HubException.class, () -> single("Q4_K", TINYLLAMA));
        assertTrue(k4.getMessage().contains("matches 2 GGUF files") && k4.getMessage().contains("Q4_K_S.gguf"), k4.getMessage());
        HubException none = assertThrows(HubException.class, () -> single("IQ2_XS", TINYLLAMA));
        assertTrue(none.getMessage().contains("no file matching 'IQ2_XS'") && none.getMessage().contains("Q8_0.gguf"), none.getMessage());
        HubException many = assertThrows(HubException.class, () -> Selection.choose("o/r", null, TINYLLAMA));
        assertTrue(many.getMessage().contains("12 GGUF files"), many.getMessage());
    }

    @Test
    void subfoldersAreFilesToo() {
        List<String> files = List.of("Q4_K_M/model-Q4_K_M.gguf", "Q8_0/model-Q8_0.gguf");
        assertEquals("Q8_0/model-Q8_0.gguf", single("q8_0", files));
        assertEquals("Q4_K_M/model-Q4_K_M.gguf", single("model-Q4_K_M.gguf", files));
    }

    @Test
    void aHuggingFaceDirectoryPutsTheWeightsLast() {
        Selection.Directory sharded = (Selection.Directory) Selection.choose("o/r", null, List.of("README.md",
                "model-00001-of-00002.safetensors", "tokenizer.json", "config.json", "model.safetensors.index.json",
                "model-00002-of-00002.safetensors", "generation_config.json", "pytorch_model.bin"));
        assertEquals(List.of("config.json", "generation_config.json", "tokenizer.json", "model.safetensors.index.json"),
                sharded.files());
        assertEquals("model.safetensors.index.json", sharded.index());
        Selection.Directory one = (Selection.Directory) Selection.choose("o/r", null,
                List.of("model.safetensors", "config.json", "tokenizer_config.json", "tokenizer.model"));
        assertEquals(List.of("config.json", "tokenizer_config.json", "tokenizer.model", "model.safetensors"), one.files());
        assertNull(one.index());
        HubException bin = assertThrows(HubException.class,
                () -> Selection.choose("o/r", null, List.of("config.json", "pytorch_model.bin")));
        assertTrue(bin.getMessage().contains("neither a GGUF file nor") && bin.getMessage().contains("pytorch_model.bin"));
    }

    @Test
    void referencesAreCheckedBeforeTheyTouchAPathOrAUrl() {
        assertEquals(new ModelRef("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", "Q4_K_M"),
                ModelRef.parse("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M"));
        assertEquals(new ModelRef("gpt2", null), ModelRef.parse("gpt2"));
        assertEquals("a/b:c/d.gguf", ModelRef.parse("a/b:c/d.gguf").toString());
        for (String bad : List.of("", "a/b/c", "../x", "a/..", "a/b--c", "-a/b", "a b/c", "a/b:", "a/b:../c", "a/b:/etc/passwd",
                "a/b:c//d", "a/b:c\\d", "a/b:./c")) {
            assertThrows(HubException.class, () -> ModelRef.parse(bad), bad);
        }
        assertThrows(HubException.class, () -> RepoPaths.checkRevision("../main"));
        assertThrows(HubException.class, () -> RepoPaths.checkRevision("a b"));
        assertEquals("refs/pr/1", RepoPaths.checkRevision("refs/pr/1"));
    }

    @Test
    void urlsFollowTheHubLayout() {
        try (HubClient c = new HubClient(HubClient.Options.defaults().withEndpoint(URI.create("https://mirror.example/hf")))) {
            assertEquals("https://mirror.example/hf/o/r/resolve/main/sub%20dir/model%2B1.gguf",
                    c.fileUri("o/r", "main", "sub dir/model+1.gguf").toString());
            assertEquals("https://mirror.example/hf/o/r/resolve/refs%2Fpr%2F1/config.json",
                    c.fileUri("o/r", "refs/pr/1", "config.json").toString());
            assertEquals("https://mirror.example/hf/api/models/o/r", c.listingUri("o/r", "main").toString());
            assertEquals("https://mirror.example/hf/api/models/o/r/revision/v1.0", c.listingUri("o/r", "v1.0").toString());
        }
    }

    @Test
    void settingsComeFromTheEnvironmentUnlessGiven(@TempDir Path dir) {
        HubClient.Options fromEnv = HubClient.Options.fromEnvironment(
                Map.of("HF_ENDPOINT", "https://hf-mirror.example/", "HF_TOKEN", "hf_env"), null, null);
        assertEquals(URI.create("https://hf-mirror.example"), fromEnv.endpoint());
        assertEquals("hf_env", fromEnv.token());
        HubClient.Options given = HubClient.Options.fromEnvironment(
                Map.of("HF_ENDPOINT", "https://hf-mirror.example", "HF_TOKEN", "hf_env"), "http://127.0.0.1:9", "hf_flag");
        assertEquals(URI.create("http://127.0.0.1:9"), given.endpoint());
        assertEquals("hf_flag", given.token());
        HubClient.Options none = HubClient.Options.fromEnvironment(Map.of(), null, null);
        assertEquals(HubClient.DEFAULT_ENDPOINT, none.endpoint());
        assertNull(none.token());
        assertThrows(HubException.class, () -> HubClient.Options.fromEnvironment(Map.of(), "ftp://x", null));

        assertEquals(dir, ModelCache.defaultRoot(Map.of("JLLM_CACHE", dir.toString())));
        assertEquals(dir.resolve("jllm"), ModelCache.defaultRoot(Map.of("XDG_CACHE_HOME", dir.toString())));
        assertEquals(Path.of(System.getProperty("user.home"), ".cache", "jllm"), ModelCache.defaultRoot(Map.of()));
    }

    @Test
    void theCacheListsAndRemoves(@TempDir Path root) throws IOException {
        ModelCache cache = new ModelCache(root);
        String commit = "0123456789abcdef0123456789abcdef01234567";
        Files.createDirectories(cache.snapshotFile("o/r", commit, "a.Q4_0.gguf").getParent());
        Files.write(cache.snapshotFile("o/r", commit, "a.Q4_0.gguf"), new byte[100]);
        Files.write(cache.snapshotFile("o/r", commit, "a.Q8_0.gguf"), new byte[200]);
        Files.createDirectories(cache.partialFile("o/r", commit, "a.F16.gguf").getParent());
        Files.write(cache.partialFile("o/r", commit, "a.F16.gguf"), new byte[50]);
        cache.writeRef("o/r", "main", commit);
        Files.createDirectories(cache.snapshotFile("x/y", "v1", "config.json").getParent());
        Files.write(cache.snapshotFile("x/y", "v1", "config.json"), new byte[3]);

        List<ModelCache.Entry> entries = cache.list();
        assertEquals(List.of(
                new ModelCache.Entry("o/r", commit, List.of("main"), "a.F16.gguf", 50, true),
                new ModelCache.Entry("o/r", commit, List.of("main"), "a.Q4_0.gguf", 100, false),
                new ModelCache.Entry("o/r", commit, List.of("main"), "a.Q8_0.gguf", 200, false),
                new ModelCache.Entry("x/y", "v1", List.of(), "config.json", 3, false)), entries);
        assertEquals(commit, cache.localKey("o/r", "main"));
        assertEquals("v1", cache.localKey("x/y", "v1"));

        assertEquals(List.of(cache.snapshotFile("o/r", commit, "a.Q8_0.gguf")), cache.remove(ModelRef.parse("o/r:q8_0")));
        assertEquals(List.of(cache.partialFile("o/r", commit, "a.F16.gguf")), cache.remove(ModelRef.parse("o/r:F16")));
        HubException missing = assertThrows(HubException.class, () -> cache.remove(ModelRef.parse("o/r:Q5_K_M")));
        assertTrue(missing.getMessage().contains("not in the cache"), missing.getMessage());
        assertEquals(1, cache.list().stream().filter(e -> e.repo().equals("o/r")).count());
        cache.remove(ModelRef.parse("o/r:a.Q4_0.gguf"));
        assertFalse(Files.exists(root.resolve("models--o--r")), "an emptied repository goes away");
        cache.remove(ModelRef.parse("x/y"));
        assertTrue(cache.list().isEmpty());
        assertThrows(HubException.class, () -> cache.remove(ModelRef.parse("x/y")));
    }
}
