package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jllm.SharedData;
import dev.jllm.chat.ChatSession;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.chat.Conversation;
import dev.jllm.chat.Message;
import dev.jllm.engine.Model;
import dev.jllm.engine.SessionOptions;
import dev.jllm.sampling.SamplerOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jllm chat} in a real terminal: tmux gives it a pseudo-terminal, types into it and reads the screen back.
 * Needs tmux (CI installs it); fails, never skips, when it is missing.
 */
class ChatTerminalTest {

    private final String socket = "jllm-chat-test-" + ProcessHandle.current().pid();
    @TempDir
    Path dir;

    @BeforeEach
    void requireTmux() throws Exception {
        try {
            Process p = new ProcessBuilder("tmux", "-V").redirectErrorStream(true).start();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                fail("tmux -V failed: this test drives jllm chat through tmux (apt-get install tmux)");
            }
        } catch (IOException e) {
            fail("tmux is not installed: this test drives jllm chat through tmux (apt-get install tmux)");
        }
    }

    @AfterEach
    void killServer() throws Exception {
        new ProcessBuilder("tmux", "-L", socket, "kill-server").redirectErrorStream(true).start().waitFor(10, TimeUnit.SECONDS);
    }

    /** The answer jllm's engine gives in-process, for comparison with what the terminal shows. */
    private static ChatSession.Reply reference(int maxTokens, String... messages) {
        try (Model model = Model.load(SharedData.model("stories260K.bin"), SharedData.model("tok512.bin"))) {
            ChatSession chat = new ChatSession(model, model.newSession(SessionOptions.defaults(512)),
                    ChatTemplate.builtin("llama2"), SamplerOptions.greedy(), maxTokens);
            ChatSession.Reply reply = null;
            for (String m : messages) {
                reply = chat.respond(m, null, null, null);
            }
            return reply;
        }
    }

    @Test
    void streamsTheAnswerIntoTheTerminal() throws Exception {
        String expected = reference(24, "Once upon a time").text();
        start(24, 0);
        String banner = waitForScreen(s -> s.contains("\n> ") || s.startsWith("> "), "the prompt");
        assertTrue(banner.contains("jllm chat: stories260K.bin, template llama2"), banner);
        keys("Once upon a time", "Enter");
        String screen = waitForScreen(s -> s.contains("answer cut at 24 tokens") && s.strip().endsWith(">"), "the answer");
        String answer = between(screen, "> Once upon a time\n", "\njllm: answer cut at 24 tokens");
        assertEquals(normalize(expected), normalize(answer), "the streamed answer on the screen:\n" + screen);
        keys("C-d");
        waitForScreen(s -> s.contains("JLLM-EXITED 0"), "exit status 0 after Ctrl-D");
    }

    @Test
    void ctrlCStopsTheAnswerNotTheProgram() throws Exception {
        // The answer runs to the end of the context (493 pieces), each piece held 150 ms: over a minute of streaming.
        // Ctrl-C is sent on an event (the answer's first characters on the screen) and judged by events (the notice, a
        // shown prefix shorter than the whole answer); only a stall of over a minute between two tmux calls could
        // let the answer finish first.
        ChatSession.Reply full = reference(-1, "Once upon a time");
        assertTrue(full.generatedTokens() >= 400, "precondition: a long answer, got " + full.generatedTokens() + " tokens");
        start(-1, 150);
        waitForScreen(s -> s.strip().endsWith(">"), "the prompt");
        keys("Once upon a time", "Enter");
        waitForScreen(s -> between(s, "> Once upon a time\n", null).strip().length() >= 3, "the answer to start");
        keys("C-c");
        String screen = waitForScreen(s -> s.contains("jllm: answer interrupted") && s.strip().endsWith(">"),
                "the interrupted answer and a new prompt");
        String shown = between(screen, "> Once upon a time\n", "^C").strip();
        assertTrue(!shown.isEmpty() && normalize(full.text()).startsWith(normalize(shown))
                && shown.length() < full.text().length(), "part of the answer was shown: " + shown);

        Path saved = dir.resolve("after-ctrl-c.json");
        keys("/save " + saved, "Enter");
        waitForScreen(s -> s.contains("jllm: saved 2 messages"), "the conversation saved");
        Conversation c = Conversation.read(saved);
        assertEquals(Message.user("Once upon a time"), c.messages().get(0));
        assertEquals(normalize(shown), normalize(c.messages().get(1).content()), "the answer as far as it went");
        keys("/exit", "Enter");
        waitForScreen(s -> s.contains("JLLM-EXITED 0"), "exit status 0 after /exit");
    }

    // ---- driving tmux ----

    private void start(int maxTokens, int streamDelayMillis) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", classpath, "dev.jllm.cli.Main", "chat", "-m", SharedData.model("stories260K.bin").toString(),
                "--tokenizer", SharedData.model("tok512.bin").toString(), "--chat-template", "llama2", "--temp", "0",
                "-n", Integer.toString(maxTokens), "--stream-delay", Integer.toString(streamDelayMillis));
        Path script = dir.resolve("run-chat.sh");
        StringBuilder line = new StringBuilder();
        for (String part : command) {
            line.append('\'').append(part.replace("'", "'\\''")).append("' ");
        }
        // stdin and stdout stay the pane's terminal (a pipe would make jllm take the line-by-line path)
        Files.writeString(script, "cd '" + System.getProperty("user.dir") + "'\n" + line + "\necho JLLM-EXITED $?\nsleep 120\n",
                StandardCharsets.UTF_8);
        tmux("new-session", "-d", "-s", "chat", "-x", "200", "-y", "60", "bash " + script);
    }

    private void keys(String... keys) throws Exception {
        List<String> args = new ArrayList<>(List.of("send-keys", "-t", "chat"));
        args.addAll(List.of(keys));
        tmux(args.toArray(String[]::new));
    }

    private String screen() throws Exception {
        return tmux("capture-pane", "-p", "-J", "-t", "chat");
    }

    private String waitForScreen(Predicate<String> condition, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        String s = "";
        while (System.nanoTime() < deadline) {
            s = screen();
            if (condition.test(s)) {
                return s;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out waiting for " + what + "; the screen:\n" + s);
    }

    private String tmux(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("tmux", "-L", socket));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("tmux " + String.join(" ", args) + " failed: " + output);
        }
        return output;
    }

    /** The text after {@code start} up to {@code end} (or the end of the screen when null or absent). */
    private static String between(String screen, String start, String end) {
        int from = screen.indexOf(start);
        if (from < 0) {
            return "";
        }
        from += start.length();
        int to = end == null ? -1 : screen.indexOf(end, from);
        return screen.substring(from, to < 0 ? screen.length() : to);
    }

    /** The terminal drops trailing spaces of each line. */
    private static String normalize(String text) {
        return text.strip().replaceAll(" +\n", "\n");
    }
}
