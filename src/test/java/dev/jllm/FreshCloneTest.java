package dev.jllm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: jllm works on a fresh machine with nothing but the repository. The committed HEAD is cloned into an
 * empty folder, with HOME and the model cache pointed at empty folders and no ../shared anywhere near it, and the
 * README's first command is run there: the launcher builds jllm and the bundled demo model tells llama2.c's canonical
 * story.
 */
class FreshCloneTest {

    /** The first command of the README's quick start, verbatim. */
    static final String README_FIRST_COMMAND = "./jllm generate -p \"Once upon a time\" --temp 0 -n 200";

    @Test
    void theReadmesFirstCommandRunsInAFreshClone(@TempDir Path tmp) throws Exception {
        Path project = Path.of(System.getProperty("user.dir"));
        Path clone = tmp.resolve("jllm");
        Path home = Files.createDirectory(tmp.resolve("home"));
        Path cache = Files.createDirectory(tmp.resolve("cache"));
        run(List.of("git", "clone", "--quiet", project.toString(), clone.toString()), tmp, tmp, Map.of(), 120);
        assertFalse(Files.exists(clone.resolve("../shared")), "no reference data beside the clone");

        String readme = Files.readString(clone.resolve("README.md"), StandardCharsets.UTF_8);
        int quickStart = readme.indexOf("## Quick start");
        int firstBlock = readme.indexOf("```sh\n", quickStart);
        assertTrue(quickStart >= 0 && firstBlock > quickStart, "README has a quick start with a command");
        String firstCommand = readme.substring(firstBlock + 6, readme.indexOf('\n', firstBlock + 6));
        assertEquals(README_FIRST_COMMAND, firstCommand, "the README's first command");

        // The wrapper finds Maven, and Maven its repository, where this build found them: a fresh HOME has neither,
        // and fetching them is not what this test is about.
        Path m2 = Path.of(System.getProperty("user.home"), ".m2");
        Map<String, String> env = Map.of("HOME", home.toString(), "JLLM_CACHE", cache.toString(), "XDG_CACHE_HOME",
                cache.toString(), "MAVEN_USER_HOME", m2.toString(), "MAVEN_OPTS",
                "-Dmaven.repo.local=" + m2.resolve("repository"), "JAVA_HOME", System.getProperty("java.home"));
        Process p = run(List.of("bash", "-c", README_FIRST_COMMAND), clone, tmp, env, 300);
        String out = Files.readString(tmp.resolve("stdout.txt"), StandardCharsets.UTF_8);
        String err = Files.readString(tmp.resolve("stderr.txt"), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), err);
        assertTrue(err.contains("using the bundled TinyStories-260K demo model; pass -m FILE or -hf REPO for your own"),
                err);
        String story = out.strip();
        assertTrue(story.startsWith("Once upon a time, there was a little girl named Lily. She loved to play outside in"
                + " the park."), story);
        String llama2c = Files.readString(SharedData.golden("llama2c_p1.txt"), StandardCharsets.UTF_8);
        assertTrue(story.length() > 400 && llama2c.startsWith(story), "200 tokens of llama2.c's story: " + story);
        try (var files = Files.list(cache)) {
            assertEquals(0, files.count(), "nothing extracted or downloaded into the cache");
        }
    }

    /** Runs a command in {@code dir} and waits for it; its output goes to stdout.txt and stderr.txt in {@code logs}. */
    private static Process run(List<String> command, Path dir, Path logs, Map<String, String> env, int seconds)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectOutput(logs.resolve("stdout.txt").toFile())
                .redirectError(logs.resolve("stderr.txt").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not end within " + seconds + " s");
        }
        if (p.exitValue() != 0 && command.get(0).equals("git")) {
            throw new AssertionError("git clone failed: " + Files.readString(logs.resolve("stderr.txt")));
        }
        return p;
    }
}
