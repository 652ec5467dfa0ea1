package dev.jllm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import dev.jllm.chat.Conversation;
import dev.jllm.chat.Message;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jllm template, jllm chat with piped input, and generate --chat, in-process. */
class ChatCliTest {

    private static String bin() {
        return SharedData.model("stories260K.bin").toString();
    }

    private static String tok() {
        return SharedData.model("tok512.bin").toString();
    }

    /**
     * {@code jllm template} prints exactly what Python Jinja2 rendered, for cases with and without BOS/EOS. The
     * reference froze {@code strftime_now} at 26 Jul 2024; jllm reads the clock, so Llama 3.2's "Today Date" line
     * (the only template here that calls it) must be today's date instead; Llama 3.1 and 3.3 print their template's
     * fixed "26 Jul 2024" and are compared byte for byte like the rest.
     */
    @Test
    void templatePrintsTheReferenceRendering(@TempDir Path dir) throws IOException {
        JsonNode cases = SharedData.json(SharedData.file("chat-templates/expected.json"));
        ObjectMapper json = new ObjectMapper();
        int checked = 0;
        int datedToday = 0;
        for (JsonNode c : cases) {
            if (!c.has("output") || !c.get("template").asText().matches("(meta-llama|Qwen|google|mistralai-Mistral-Nemo).*")) {
                continue;
            }
            Path messages = dir.resolve("m" + checked + ".json");
            String conversation = c.has("tools")
                    ? json.writeValueAsString(json.createObjectNode().setAll(java.util.Map.of("messages", c.get("messages"),
                            "tools", c.get("tools"))))
                    : json.writeValueAsString(c.get("messages"));
            Files.writeString(messages, conversation);
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("template", "--template",
                    SharedData.file("chat-templates/" + c.get("template").asText()).toString(), "--messages",
                    messages.toString()));
            if (c.get("add_generation_prompt").asBoolean()) {
                args.add("--add-generation-prompt");
            }
            for (String token : new String[] {"bos", "eos"}) {
                if (!c.get(token + "_token").isNull()) {
                    args.add("--" + token);
                    args.add(c.get(token + "_token").asText());
                }
            }
            String before = today();
            CliTest.Result r = CliTest.run(args.toArray(String[]::new));
            String after = today();
            assertEquals(0, r.code(), r.err());
            String expected = c.get("output").asText();
            String name = c.get("template").asText() + " " + c.get("case").asText();
            if (c.get("template").asText().startsWith("meta-llama-Llama-3.2")) {
                assertTrue(expected.contains("Today Date: 26 Jul 2024\n"), name);
                String dated = r.out().contains("Today Date: " + after) ? after : before; // the run may cross midnight
                expected = expected.replace("Today Date: 26 Jul 2024\n", "Today Date: " + dated + "\n");
                datedToday++;
            }
            assertEquals(expected, r.out(), name);
            checked++;
        }
        // Llama 2, 3, 3.1, 3.2, 3.3, Qwen 2.5, Gemma 2 and Mistral-Nemo: every case that renders.
        assertEquals(44, checked, "cases checked");
        assertEquals(6, datedToday);
    }

    /** Today as Llama 3.2's template asks {@code strftime_now} for it ({@code "%d %b %Y"}). */
    private static String today() {
        return java.time.LocalDate.now().format(java.time.format.DateTimeFormatter.ofPattern("dd MMM yyyy",
                java.util.Locale.ROOT));
    }

    @Test
    void templateFailureIsOneLineNamingTheTemplate(@TempDir Path dir) throws IOException {
        Path messages = dir.resolve("bad.json");
        new Conversation(java.util.List.of(Message.user("a"), Message.user("b"))).write(messages);
        Path template = SharedData.file("chat-templates/meta-llama-Llama-2-7b-chat-hf.jinja");
        CliTest.Result r = CliTest.run("template", "--template", template.toString(), "--messages", messages.toString(),
                "--bos", "<s>", "--eos", "</s>");
        CliTest.assertOneLineError(r, "chat template 'meta-llama-Llama-2-7b-chat-hf.jinja'",
                "Conversation roles must alternate user/assistant/user/assistant/...");

        Path broken = dir.resolve("broken.jinja");
        Files.writeString(broken, "{% for m in messages %}{{ m.content }}");
        CliTest.assertOneLineError(CliTest.run("template", "--template", broken.toString(), "--messages",
                messages.toString()), "chat template 'broken.jinja'");
    }

    @Test
    void templateTakesBosAndEosFromTheModel(@TempDir Path dir) throws IOException {
        Path messages = dir.resolve("m.json");
        Conversation.of(Message.user("Hi"), Message.assistant("Hello."), Message.user("Bye")).write(messages);
        CliTest.Result r = CliTest.run("template", "-m", SharedData.model("stories260K.gguf").toString(), "--template",
                "llama2", "--messages", messages.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("<s>[INST] Hi [/INST] Hello. </s><s>[INST] Bye [/INST]", r.out());
        CliTest.assertOneLineError(CliTest.run("template", "-m", SharedData.model("stories260K.gguf").toString(),
                "--messages", messages.toString()), "no chat template", "--chat-template");
    }

    /** A GGUF file's own tokenizer.chat_template is used when no --chat-template is given. */
    @Test
    void theModelFilesTemplateIsUsed(@TempDir Path dir) throws IOException {
        String tinyLlama = Files.readString(SharedData.file("chat-templates/TinyLlama-TinyLlama-1.1B-Chat-v1.0.jinja"));
        Path gguf = dev.jllm.chat.GgufWithTemplate.write(SharedData.model("stories260K.gguf"), dir.resolve("t.gguf"),
                tinyLlama);
        JsonNode reference = null;
        for (JsonNode c : SharedData.json(SharedData.file("chat-templates/expected.json"))) {
            if (c.get("template").asText().startsWith("TinyLlama") && c.get("case").asText().equals("b")) {
                reference = c;
            }
        }
        Path messages = dir.resolve("b.json");
        Files.writeString(messages, new ObjectMapper().writeValueAsString(reference.get("messages")));
        CliTest.Result r = CliTest.run("template", "-m", gguf.toString(), "--messages", messages.toString(),
                "--add-generation-prompt");
        assertEquals(0, r.code(), r.err());
        assertEquals(reference.get("output").asText(), r.out(), "the file's template with its <s> and </s>");

        // The chat's answer is the greedy continuation of that template's rendering (special tokens parsed, BOS added).
        Path one = dir.resolve("one.json");
        Conversation.of(Message.user("Once upon a time")).write(one);
        CliTest.Result rendered = CliTest.run("template", "-m", gguf.toString(), "--messages", one.toString(),
                "--add-generation-prompt");
        assertEquals(0, rendered.code(), rendered.err());
        assertTrue(rendered.out().startsWith("<|user|>\nOnce upon a time</s>"), rendered.out());
        CliTest.Result continuation = CliTest.run("generate", "-m", gguf.toString(), "-p", rendered.out(),
                "--parse-special", "--temp", "0", "-n", "8", "--format", "json");
        assertEquals(0, continuation.code(), continuation.err());
        String expected = new ObjectMapper().readTree(continuation.out()).get("text").asText();
        assertTrue(!expected.isBlank());
        CliTest.Result chat = withStdin("Once upon a time\n", () -> CliTest.run("chat", "-m", gguf.toString(), "--temp",
                "0", "-n", "8"));
        assertEquals(0, chat.code(), chat.err());
        assertEquals(expected.strip(), chat.out().strip(), "the answer to the rendered prompt");
    }

    /** Standard input that is not a terminal: one message per line, answers on stdout, commands with --commands. */
    @Test
    void chatReadsOneMessagePerLine(@TempDir Path dir) throws IOException {
        Path saved = dir.resolve("conversation.json");
        String input = "Once upon a time\n\n/system Be brief.\nWhat next?\n/save " + saved + "\n/load " + saved
                + "\n/reset\n/bogus\n";
        CliTest.Result r = withStdin(input, () -> CliTest.run("chat", "-m", bin(), "--tokenizer", tok(),
                "--chat-template", "llama2", "--temp", "0", "-n", "12", "--commands"));
        assertEquals(0, r.code(), r.err());
        Conversation c = Conversation.read(saved);
        assertEquals(5, c.size());
        assertEquals(Message.system("Be brief."), c.messages().get(0));
        assertEquals(Message.user("Once upon a time"), c.messages().get(1));
        assertEquals(Message.user("What next?"), c.messages().get(3));
        assertEquals(c.messages().get(2).content() + "\n" + c.messages().get(4).content() + "\n", r.out().replaceAll(
                "(?m)^ +| +$", ""), "stdout holds the two answers");
        assertTrue(r.err().contains("jllm: saved 5 messages to " + saved), r.err());
        assertTrue(r.err().contains("jllm: loaded 5 messages"), r.err());
        assertTrue(r.err().contains("jllm: conversation cleared"), r.err());
        assertTrue(r.err().contains("jllm: unknown command /bogus"), r.err());

        CliTest.Result same = withStdin("Once upon a time\n", () -> CliTest.run("chat", "-m", bin(), "--tokenizer", tok(),
                "--chat-template", "llama2", "--temp", "0", "-n", "12"));
        assertEquals(c.messages().get(2).content(), same.out().strip(), "greedy answers repeat");
    }

    /**
     * {@code --system}: the conversation starts with it, and the answer is the greedy continuation of the template's
     * rendering of [system, user] (the rendering {@code jllm template} prints, checked against Jinja2 above). {@code /help}
     * lists every command, on stderr when piped, so stdout holds the answer alone.
     */
    @Test
    void systemPromptAndHelp(@TempDir Path dir) throws IOException {
        Path saved = dir.resolve("c.json");
        CliTest.Result r = withStdin("Once upon a time\n/help\n/save " + saved + "\n", () -> CliTest.run("chat", "-m",
                bin(), "--tokenizer", tok(), "--chat-template", "llama2", "--system", "Be brief.", "--temp", "0",
                "-n", "12", "--commands"));
        assertEquals(0, r.code(), r.err());
        Conversation c = Conversation.read(saved);
        assertEquals(java.util.List.of(Message.system("Be brief."), Message.user("Once upon a time")),
                c.messages().subList(0, 2));

        Path asked = dir.resolve("asked.json");
        Conversation.of(Message.system("Be brief."), Message.user("Once upon a time")).write(asked);
        CliTest.Result rendered = CliTest.run("template", "--template", "llama2", "--messages", asked.toString(),
                "--add-generation-prompt", "--bos", "<s>", "--eos", "</s>"); // tok512's BOS and EOS texts
        assertEquals(0, rendered.code(), rendered.err());
        assertTrue(rendered.out().startsWith("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nOnce upon a time [/INST]"),
                rendered.out());
        CliTest.Result continuation = CliTest.run("generate", "-m", bin(), "--tokenizer", tok(), "-p", rendered.out(),
                "--parse-special", "--no-bos", "--temp", "0", "-n", "12", "--format", "json");
        assertEquals(0, continuation.code(), continuation.err());
        String expected = new ObjectMapper().readTree(continuation.out()).get("text").asText().strip();
        assertEquals(expected, c.messages().get(2).content().strip());
        assertEquals(expected, r.out().strip(), "stdout holds the answer only");

        for (String command : new String[] {"/reset", "/system TEXT", "/save FILE", "/load FILE", "/help", "/exit"}) {
            assertTrue(r.err().contains("\n" + command + " "), command + " in /help: " + r.err());
        }
    }

    /**
     * A chat template in a model file is a stranger's program: one that loops for minutes fails at a bound, in one
     * line with exit code 2, in template, generate --chat and chat alike (issue 18, item 3).
     */
    @Test
    void aHostileTemplateInTheModelFileFailsAtABound(@TempDir Path dir) throws IOException {
        String loops = "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}"
                + "{% endfor %}{% endfor %}";
        Path gguf = dev.jllm.chat.GgufWithTemplate.write(SharedData.model("stories260K.gguf"), dir.resolve("evil.gguf"),
                loops);
        Path messages = dir.resolve("m.json");
        Conversation.of(Message.user("Hi")).write(messages);
        // The message names the bound that stopped each one (a million iterations, not a billion): no clock needed.
        CliTest.assertOneLineError(CliTest.run("template", "-m", gguf.toString(), "--messages", messages.toString()),
                "evil.gguf (tokenizer.chat_template)", "exceeds the bound on loop iterations (1000000 in all)");
        CliTest.assertOneLineError(CliTest.run("generate", "-m", gguf.toString(), "--chat", "-p", "Hi", "-n", "4"),
                "exceeds the bound on loop iterations");
        CliTest.assertOneLineError(withStdin("Hi\n", () -> CliTest.run("chat", "-m", gguf.toString(), "-n", "4")),
                "exceeds the bound on loop iterations");
    }

    /**
     * Piped text is messages only (issue 18, item 6): "/save F" and "/load SECRET" from a pipe must neither write F nor
     * read SECRET; they are sent to the model as text.
     */
    @Test
    void pipedLinesNeverRunCommands(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("F");
        Files.writeString(target, "keep me");
        Path secret = dir.resolve("SECRET");
        Files.writeString(secret, "hunter2 is the password");
        String input = "hello\n/save " + target + "\n/load " + secret + "\n";
        CliTest.Result r = withStdin(input, () -> CliTest.run("chat", "-m", bin(), "--tokenizer", tok(),
                "--chat-template", "llama2", "--temp", "0", "-n", "6"));
        assertEquals(0, r.code(), r.err());
        assertEquals("keep me", Files.readString(target), "/save from a pipe wrote the file");
        assertTrue(!r.out().contains("hunter2") && !r.err().contains("hunter2"), r.out() + r.err());
        assertTrue(!r.err().contains("saved") && !r.err().contains("loaded") && !r.err().contains("unknown command"),
                r.err());
        CliTest.Result hello = withStdin("hello\n", () -> CliTest.run("chat", "-m", bin(), "--tokenizer", tok(),
                "--chat-template", "llama2", "--temp", "0", "-n", "6"));
        assertTrue(r.out().startsWith(hello.out()) && r.out().length() > hello.out().length(),
                "the two / lines were answered as messages: " + r.out());
    }

    /**
     * A piped message longer than the context gets an error at once, the other lines still get answers, and the run
     * ends with exit code 2 (issue 14, item 13): it used to exit 0.
     */
    @Test
    void aPipedMessageLongerThanTheContextFailsTheRun() {
        String tooLong = "Once upon a time there was a dog. ".repeat(40);
        CliTest.Result r = withStdin("hello\n" + tooLong + "\nbye\n", () -> CliTest.run("chat", "-m", bin(),
                "--tokenizer", tok(), "--chat-template", "llama2", "--temp", "0", "-n", "4", "--ctx-size", "128"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("the context holds 128"), r.err());
        assertTrue(r.err().strip().endsWith("jllm: 1 of 3 messages got no answer (see above)"), r.err());
        assertEquals(2, r.out().lines().count(), "hello and bye were answered: " + r.out());
    }

    @Test
    void chatWithoutATemplateSaysHowToChooseOne() {
        CliTest.Result r = withStdin("hi\n", () -> CliTest.run("chat", "-m", bin(), "--tokenizer", tok()));
        CliTest.assertOneLineError(r, bin(), "no chat template", "--chat-template llama2|llama3|zephyr|chatml|FILE.jinja");
        CliTest.Result unknown = withStdin("hi\n", () -> CliTest.run("chat", "-m", bin(), "--tokenizer", tok(),
                "--chat-template", "nosuch"));
        CliTest.assertOneLineError(unknown, "chat template 'nosuch'", "built-in");
    }

    @Test
    void generateChatFormatsTheUserMessage() {
        CliTest.Result r = CliTest.run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--chat",
                "--chat-template", "llama2", "--temp", "0", "-n", "8");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("[INST] Once upon a time [/INST]"), r.out());
        CliTest.Result json = CliTest.run("generate", "-m", bin(), "--tokenizer", tok(), "-p", "Once upon a time", "--chat",
                "--chat-template", "llama2", "--temp", "0", "-n", "8", "--format", "json");
        assertTrue(json.out().startsWith("{\"prompt_ids\":[1,"), "one BOS, then the template's text: " + json.out());
        assertTrue(!json.out().startsWith("{\"prompt_ids\":[1,1,"), json.out());
    }

    private interface Call {
        CliTest.Result run();
    }

    private static CliTest.Result withStdin(String text, Call call) {
        InputStream saved = System.in;
        System.setIn(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
        try {
            return call.run();
        } finally {
            System.setIn(saved);
        }
    }
}
