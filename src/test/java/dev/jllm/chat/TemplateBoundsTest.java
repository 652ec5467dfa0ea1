package dev.jllm.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Hostile chat templates (issue 18, item 3): each exceeds one bound of {@link TemplateLimits} and must fail with one
 * line naming that bound (the bound that fired, not the clock, shows it stopped in time), instead of running for
 * minutes or filling the heap.
 * Without the bounds these ran past 60 s, ended in OutOfMemoryError after taking GBs, or overflowed the stack.
 */
class TemplateBoundsTest {

    private static Map<String, Object> variables() {
        return ChatTemplate.variables(List.of(Map.of("role", "user", "content", "Hello")), null, true, "<s>", "</s>");
    }

    /**
     * Renders {@code source} and returns the failure. Which bound stopped it is shown by the message (an event); the
     * time limit here only guards against a template that is never stopped (a billion iterations would take hours),
     * with room for a loaded machine: it is not a measurement.
     */
    private static ChatTemplateException failure(String source) {
        return assertTimeoutPreemptively(HANG_GUARD, () -> assertThrows(
                ChatTemplateException.class, () -> ChatTemplate.of("hostile.jinja", source).render(variables())));
    }

    private static final Duration HANG_GUARD = Duration.ofSeconds(120);

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiterString = "::", textBlock = """
            three nested range(1000) loops      :: loop iterations :: {% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}
            a list of two billion items         :: list size       :: {{ ([1] * 2000000000)|length }}
            a string of 100 million characters  :: string size     :: {% for i in range(100) %}{{ 'x' * 100000000 }}{% endfor %}
            indent(1000000000)                  :: string size     :: {{ 'x'|indent(1000000000) }}
            tojson(indent=1e8)                  :: string size     :: {{ messages|tojson(indent=100000000) }}
            a list that doubles itself          :: list size       :: {% set x = [1] %}{% for i in range(40) %}{% do x.extend(x) %}{% endfor %}
            a string that doubles itself        :: string size     :: {% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}
            a string added to itself            :: string size     :: {% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}
            batch with a huge fill              :: list size       :: {{ [1]|batch(1000000000, 'x')|list }}
            center(1000000000)                  :: string size     :: {{ 'x'|center(1000000000) }}
            a huge format width                 :: string size     :: {{ '%1000000000s'|format('x') }}
            replace that multiplies             :: string size     :: {{ ('x' * 100000).replace('x', 'x' * 100000) }}
            join that multiplies                :: string size     :: {{ ('x' * 100000).join(['a'] * 90000) }}
            many large strings, one at a time   :: everything built:: {% for i in range(1000) %}{% set x = 'x' * 4000000 %}{% endfor %}
            output of 10 million characters     :: output size     :: {% for i in range(10) %}{{ 'x' * 1000000 }}{% endfor %}
            """)
    void sizeAndLoopBoundsStopTheRendering(String attack, String bound, String source) {
        ChatTemplateException e = failure(source);
        assertEquals(ChatTemplateException.Kind.LIMIT, e.kind(), attack + ": " + e.getMessage());
        assertTrue(e.getMessage().startsWith("chat template 'hostile.jinja': exceeds the bound on " + bound.strip()),
                attack + ": " + e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line");
    }

    /**
     * A long loop whose body builds almost nothing the size bounds count (a two-entry mapping per step) but churns the
     * interpreter's own objects: the heap bound stops it, also when the rendering is asked for on a virtual thread
     * (the server's request threads), whose allocations the JVM does not count.
     */
    @Test
    void theHeapARenderingAllocatesIsBoundedOnPlatformAndVirtualThreads() throws Exception {
        String churn = "{% for i in range(1000) %}{% for j in range(999) %}{% set x = {'a': i, 'b': j, 'c': [i, j]} %}"
                + "{% set y = x.a + x.b + x.c|length %}{% endfor %}{% endfor %}";
        ChatTemplateException onPlatform = failure(churn);
        assertTrue(onPlatform.getMessage().contains("exceeds the bound on heap allocated"), onPlatform.getMessage());
        ChatTemplateException[] onVirtual = new ChatTemplateException[1];
        Thread.ofVirtual().start(() -> onVirtual[0] = failure(churn)).join();
        assertEquals(onPlatform.getMessage(), onVirtual[0].getMessage());
    }

    @Test
    void nestingIsBoundedBeforeParsing() {
        String parentheses = "{{ " + "(".repeat(3000) + "1" + ")".repeat(3000) + " }}";
        String ifs = "{% if 1 %}".repeat(20_000) + "x" + "{% endif %}".repeat(20_000);
        String filters = "{{ 'x'" + "|trim".repeat(5000) + " }}";
        for (String source : new String[] {parentheses, ifs, filters}) {
            ChatTemplateException e = failure(source); // 3,000 parentheses took 20 s, 20,000 ifs overflowed the stack
            assertEquals(ChatTemplateException.Kind.LIMIT, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("exceeds the bound on nesting (" + TemplateLimits.MAX_NESTING + " levels)"),
                    e.getMessage());
        }
        String sixtyLevels = "{% if 1 %}".repeat(60) + "{{ " + "(".repeat(60) + "'ok'" + ")".repeat(60) + " }}"
                + "{% endif %}".repeat(60);
        assertEquals("ok", ChatTemplate.of("deep.jinja", sixtyLevels).render(variables()), "within the bound");
    }

    @Test
    void theTemplateSourceIsBounded() {
        ChatTemplateException e = failure("x".repeat(TemplateLimits.MAX_SOURCE_CHARS + 1));
        assertTrue(e.getMessage().contains("exceeds the bound on template size"), e.getMessage());
    }

    /** A template that builds little but computes long: only the clock stops it, and not before the bound. */
    @Test
    void wallTimeIsBounded() {
        String slow = "{% set s = 'x' * 4000000 %}{% for i in range(1000) %}{% for j in range(1000) %}"
                + "{{ s.count('y') }}{% endfor %}{% endfor %}";
        long t0 = System.nanoTime();
        ChatTemplateException e = failure(slow);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("exceeds the bound on rendering time (5.0 s)"), e.getMessage());
        // Never before the bound (the clock is what this bound is about); how late it is noticed depends on the load.
        assertTrue(seconds >= TemplateLimits.MAX_TIME.toSeconds() - 0.01, "stopped " + seconds + " s after starting");
    }

    /** Java's own methods on strings and lists would reach past every bound ('x'.repeat(n), list.addAll(list)). */
    @Test
    void onlyPythonMethodsAreCallable() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of("t", "{{ 'x'.repeat(2000000000) }}").render(variables()));
        assertEquals("chat template 't': 'str object' has no attribute 'repeat'", e.getMessage());
        e = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of("t", "{% set x = [1] %}{{ x.addAll(x) }}").render(variables()));
        assertTrue(e.getMessage().contains("'list object' has no attribute 'addAll'"), e.getMessage());
        assertEquals("a,b|[1, 2]", ChatTemplate.of("t", "{% set x = [1] %}{% do x.append(2) %}{{ ','.join(['a', 'b']) }}|"
                + "{{ x }}").render(variables()));
    }

    /** jinjava's filters that Jinja2 lacks (fromyaml, render, regex_replace, ...) fail as they do in transformers. */
    @Test
    void filtersJinja2LacksAreRefused() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of("t", "{{ 'a: 1'|fromyaml }}").render(variables()));
        assertTrue(e.getMessage().contains("fromyaml"), e.getMessage());
    }

    /** A long real conversation stays far inside every bound. */
    @Test
    void realTemplatesWithLongConversationsRender() {
        List<Map<String, Object>> messages = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            messages.add(Map.of("role", i % 2 == 0 ? "user" : "assistant", "content", "message " + i + " lorem".repeat(40)));
        }
        String out = ChatTemplate.builtin("llama3").render(ChatTemplate.variables(messages, null, true, "<s>", "</s>"));
        assertTrue(out.length() > 400_000, "rendered " + out.length());
    }
}
