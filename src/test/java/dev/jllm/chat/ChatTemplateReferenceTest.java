package dev.jllm.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every case of {@code ../shared/chat-templates/expected.json} (official templates rendered by Python Jinja2 as
 * transformers renders them): jllm's output is byte-identical, and where Python raised, jllm fails too, with the
 * template's own message for {@code raise_exception}.
 */
class ChatTemplateReferenceTest {

    /** The reference renderer's clock and extra variable (tools/render.py). */
    static final LocalDateTime FROZEN_NOW = LocalDateTime.of(2024, 7, 26, 0, 0);
    static final ObjectMapper JSON = new ObjectMapper();

    record Case(String template, String id, JsonNode entry) {
        String name() {
            return template + " case " + id;
        }
    }

    static List<Case> cases() {
        JsonNode all = SharedData.json(SharedData.file("chat-templates/expected.json"));
        List<Case> cases = new ArrayList<>();
        for (JsonNode e : all) {
            cases.add(new Case(e.get("template").asText(), e.get("case").asText(), e));
        }
        return cases;
    }

    static String source(String template) {
        try {
            return Files.readString(SharedData.file("chat-templates/" + template), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> variables(JsonNode e) {
        Map<String, Object> v = ChatTemplate.variables(JSON.convertValue(e.get("messages"), List.class),
                e.has("tools") ? JSON.convertValue(e.get("tools"), List.class) : null,
                e.get("add_generation_prompt").asBoolean(), text(e.get("bos_token")), text(e.get("eos_token")));
        v.put("date_string", "26 Jul 2024");
        return v;
    }

    private static String text(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText();
    }

    /** Null when the case passes, else what differs. */
    static String check(ChatTemplate template, JsonNode e) {
        String output;
        try {
            output = template.render(variables(e), FROZEN_NOW);
        } catch (ChatTemplateException x) {
            if (!e.has("error")) {
                return "failed: " + x.getMessage();
            }
            if (e.get("error_type").asText().equals("TemplateError")) {
                if (x.kind() != ChatTemplateException.Kind.RAISED || !x.templateMessage().equals(e.get("error").asText())) {
                    return "expected raise_exception('" + e.get("error").asText() + "'), got " + x.kind() + ": "
                            + x.templateMessage();
                }
            }
            return null;
        }
        if (e.has("error")) {
            return "expected " + e.get("error_type").asText() + " (" + e.get("error").asText() + "), got output "
                    + JSON.valueToTree(output);
        }
        String expected = e.get("output").asText();
        return expected.equals(output) ? null
                : "output differs:\n expected " + JSON.valueToTree(expected) + "\n got      " + JSON.valueToTree(output);
    }

    @TestFactory
    Stream<DynamicTest> everyReferenceCase() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            String problem = check(ChatTemplate.of(c.template(), source(c.template())), c.entry());
            if (problem != null) {
                fail(c.name() + ": " + problem);
            }
        }));
    }

    @Test
    void allCasesPass() {
        List<Case> cases = cases();
        assertEquals(132, cases.size(), "22 templates x 6 cases");
        List<String> failures = new ArrayList<>();
        for (Case c : cases) {
            String problem = check(ChatTemplate.of(c.template(), source(c.template())), c.entry());
            if (problem != null) {
                failures.add(c.name());
            }
        }
        System.out.printf("chat templates: %d of %d reference cases pass%n", cases.size() - failures.size(), cases.size());
        assertEquals(List.of(), failures);
    }

    /** The built-in templates render as the official ones they stand for, errors included. */
    @Test
    void builtinsMatchTheOfficialTemplates() {
        Map<String, String> officials = Map.of(
                "llama2", "meta-llama-Llama-2-7b-chat-hf.jinja",
                "llama3", "meta-llama-Meta-Llama-3-8B-Instruct.jinja",
                "zephyr", "TinyLlama-TinyLlama-1.1B-Chat-v1.0.jinja",
                "chatml", "teknium-OpenHermes-2.5-Mistral-7B.jinja");
        assertEquals(ChatTemplate.builtinNames().size(), officials.size());
        int checked = 0;
        for (Case c : cases()) {
            for (var official : officials.entrySet()) {
                if (c.template().equals(official.getValue())) {
                    String problem = check(ChatTemplate.builtin(official.getKey()), c.entry());
                    if (problem != null) {
                        fail("built-in " + official.getKey() + " vs " + c.name() + ": " + problem);
                    }
                    checked++;
                }
            }
        }
        assertEquals(24, checked);
    }

    @Test
    void aFailingTemplateGivesOneLineNamingTheTemplate() {
        ChatTemplate llama2 = ChatTemplate.of("meta-llama-Llama-2-7b-chat-hf.jinja",
                source("meta-llama-Llama-2-7b-chat-hf.jinja"));
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> llama2.render(
                Conversation.of(Message.user("a"), Message.user("b")), true, "<s>", "</s>"));
        assertEquals("chat template 'meta-llama-Llama-2-7b-chat-hf.jinja': Conversation roles must alternate"
                + " user/assistant/user/assistant/...", e.getMessage());

        ChatTemplate broken = ChatTemplate.of("broken.jinja", "{% for m in messages %}{{ m.content }\n");
        ChatTemplateException syntax = assertThrows(ChatTemplateException.class,
                () -> broken.render(Conversation.of(Message.user("hi")), true, "<s>", "</s>"));
        assertTrue(syntax.getMessage().startsWith("chat template 'broken.jinja': "), syntax.getMessage());
        assertEquals(1, syntax.getMessage().lines().count());
        assertEquals(ChatTemplateException.Kind.SYNTAX, syntax.kind());
    }

    @Test
    void strftimeNowUsesPythonCodes() {
        ChatTemplate t = ChatTemplate.of("date", "{{ strftime_now('%d %b %Y|%-d %B %y|%A %H:%M:%S %p %j') }}");
        assertEquals("05 Mar 2024|5 March 24|Tuesday 14:07:09 PM 065",
                t.render(Map.of(), LocalDateTime.of(2024, 3, 5, 14, 7, 9)));
        // transformers passes both functions as globals, so templates that ask find them defined (Llama 3.2 does).
        ChatTemplate asks = ChatTemplate.of("defined", "{{ strftime_now is defined }} {{ raise_exception is defined }}"
                + " {{ strftime_now is undefined }} {{ no_such_function is defined }}");
        assertEquals("True True False False", asks.render(Map.of(), LocalDateTime.of(2024, 3, 5, 14, 7, 9)));
        String llama32 = source("meta-llama-Llama-3.2-3B-Instruct.jinja");
        Map<String, Object> variables = ChatTemplate.variables(List.of(Map.of("role", "user", "content", "Hi")), null,
                true, "<|begin_of_text|>", "<|eot_id|>");
        assertTrue(ChatTemplate.of("llama32", llama32).render(variables, LocalDateTime.of(2025, 1, 9, 8, 0))
                .contains("Today Date: 09 Jan 2025\n"));
    }

    @Test
    void tojsonWritesAsPythonJsonDumps() {
        ChatTemplate t = ChatTemplate.of("json", "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}");
        Map<String, Object> x = new java.util.LinkedHashMap<>();
        x.put("b", List.of(1, 2.5, 1e-7, true));
        x.put("a", null);
        x.put("e", List.of());
        assertEquals("{\"b\": [1, 2.5, 1e-07, true], \"a\": null, \"e\": []}|{\n  \"b\": [\n    1,\n    2.5,\n    1e-07,\n"
                + "    true\n  ],\n  \"a\": null,\n  \"e\": []\n}|\"é\\\"\\n\"", t.render(Map.of("x", x), FROZEN_NOW));
    }

    @Test
    void messageTextIsNeverInterpretedAsJinja() {
        String text = "{{ 7*6 }} {% if true %}x{% endif %} {# c #}";
        assertEquals("<|im_start|>user\n" + text + "<|im_end|>\n",
                ChatTemplate.builtin("chatml").render(Conversation.of(Message.user(text)), false, null, null));
    }

    @Test
    void valuesPrintAsPythonStr() {
        ChatTemplate t = ChatTemplate.of("print", "{{ d }}|{{ l }}|{{ true }}|{{ 1.0 }}|{{ undefined_name }}|{{ 'a b'.title() }}"
                + "|{{ ' x '.strip() + 'a,b,'.split(',') | length | string }}|{{ '  ' * 2 }}|");
        Map<String, Object> d = new java.util.LinkedHashMap<>();
        d.put("a", 1);
        d.put("b", "it's");
        assertEquals("{'a': 1, 'b': \"it's\"}|['x', None]|True|1.0||A B|x3|    |",
                t.render(Map.of("d", d, "l", java.util.Arrays.asList("x", null)), FROZEN_NOW));
    }

    @Test
    void aVariablePassedAsNoneIsDefined() {
        ChatTemplate t = ChatTemplate.of("defined", "{{ tools is defined }}|{{ nothing is defined }}|{{ tools is none }}"
                + "|{{ nothing is undefined }}|{{ tools is not defined }}");
        assertEquals("True|False|True|True|False", t.render(ChatTemplate.variables(List.of(), null, false, null, null),
                FROZEN_NOW));
    }

    @Test
    void readsTheTemplateOfAHuggingFaceDirectory() throws IOException {
        Path dir = Files.createTempDirectory("hf");
        try {
            Path config = dir.resolve("tokenizer_config.json");
            Files.writeString(config, """
                    {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                     "chat_template": "{% for m in messages %}{{ bos_token + m['role'] + ':' + m['content'] + eos_token }}{% endfor %}"}
                    """);
            HfTokenizerConfig read = HfTokenizerConfig.read(config);
            assertEquals("<s>", read.bosToken());
            assertEquals("</s>", read.eosToken());
            ChatTemplate t = HfTokenizerConfig.templateIn(dir).orElseThrow();
            assertEquals("<s>user:hi</s>", t.render(Conversation.of(Message.user("hi")), false, read.bosToken(),
                    read.eosToken()));

            Files.writeString(config, """
                    {"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}
                    """);
            assertEquals("D", HfTokenizerConfig.read(config).chatTemplate());
            Files.writeString(dir.resolve("chat_template.jinja"), "J\n");
            assertEquals("J", HfTokenizerConfig.templateIn(dir).orElseThrow().render(Map.of()));
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }
}
