package dev.jllm.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.sampling.SamplerOrder.Stage;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * llama.cpp's {@code --samplers} and {@code --sampler-seq} spellings (names from its {@code common/sampling.cpp}:
 * canonical and alternative names, ';' between them, one letter each), llama.cpp's {@code --logit-bias} syntax
 * ({@code ID(+/-)BIAS}, read as its {@code stof} reads the number), and greedy sampling in orders other than the
 * default, where llama.cpp's temperature sampler at 0 keeps only the most likely candidate at its place in the chain.
 */
class SamplerOrderTest {

    private static List<Stage> stages(SamplerOrder order) {
        return ((SamplerOrder.Chain) order).stages();
    }

    @Test
    void llamaCppsNamesAndSeparators() {
        List<Stage> defaults = List.of(Stage.PENALTIES, Stage.TOP_K, Stage.TOP_P, Stage.MIN_P, Stage.TEMPERATURE);
        assertEquals(defaults, stages(SamplerOrder.DEFAULT));
        assertEquals(defaults, stages(SamplerOrder.parse("penalties;top_k;top_p;min_p;temperature")));
        assertEquals(defaults, stages(SamplerOrder.parse("penalties;dry;top_n_sigma;top_k;typ_p;top_p;min_p;xtc;temperature")));
        assertEquals(defaults, stages(SamplerOrder.parse("penalties, top-k, nucleus, MIN-P, temp")));
        assertEquals(List.of(Stage.TEMPERATURE, Stage.TOP_P, Stage.TOP_P), stages(SamplerOrder.parse("temp;top-p;top_p")));
        assertEquals(List.of(), stages(SamplerOrder.parse("dry;xtc")));
        assertEquals(defaults, stages(SamplerOrder.parseLetters("ekpmt")));
        assertEquals(defaults, stages(SamplerOrder.parseLetters("edskypmxt")));
        assertInstanceOf(SamplerOrder.Llama2c.class, SamplerOrder.parse("llama2c"));
        assertEquals("penalties;top_k;top_p;min_p;temperature", SamplerOrder.DEFAULT.toString());
    }

    @Test
    void unknownNamesAreRefusedNamingThem() {
        String m = assertThrows(IllegalArgumentException.class, () -> SamplerOrder.parse("top_k;mirostat")).getMessage();
        assertTrue(m.contains("unknown sampler 'mirostat' in 'top_k;mirostat'") && m.contains("llama2c"), m);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplerOrder.parse("")).getMessage()
                .contains("an empty name"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplerOrder.parse("infill")).getMessage()
                .contains("'infill'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplerOrder.parseLetters("ekz")).getMessage()
                .contains("letter 'z'"));
    }

    @Test
    void logitBiasInLlamaCppsSyntax() {
        assertEquals(new LogitBias(15043, 1f), LogitBias.parse("15043+1"));
        assertEquals(new LogitBias(15043, -1f), LogitBias.parse("15043-1"));
        assertEquals(new LogitBias(7, -0.5f), LogitBias.parse("7-.5"));
        assertEquals(new LogitBias(7, 250f), LogitBias.parse("7+2.5e2"));
        assertEquals(new LogitBias(7, -2f), LogitBias.parse("7+-2"));
        assertEquals(new LogitBias(2, Float.NEGATIVE_INFINITY), LogitBias.parse("2-inf"));
        assertEquals(new LogitBias(2, Float.NEGATIVE_INFINITY), LogitBias.parse("2+-INF"));
        for (String bad : new String[] {"15043", "+1", "a+1", "15043*1", "15043+", "15043+one", "15043+1x",
                "99999999999+1", "2+inf", "2+nan"}) {
            String m = assertThrows(IllegalArgumentException.class, () -> LogitBias.parse(bad), bad).getMessage();
            assertTrue(m.startsWith("--logit-bias '" + bad + "': "), m);
        }
    }

    private static final float[] LOGITS = {1f, 5f, 3f, 4.9f, -2f, 0f};

    /** llama.cpp's temperature sampler at 0 keeps the most likely candidate where it stands in the chain. */
    @Test
    void greedyWhereTheTemperatureStands() {
        SamplerOptions greedy = new SamplerOptions(0f, 1, 1f, 0f, 2f, 64, 1);
        int[] history = {1};
        // default order: penalties first (5 / 2 = 2.5), then the argmax: 4.9 (token 3)
        assertEquals(3, new Sampler(greedy).sample(LOGITS, 0, 6, history, 1));
        // the temperature first: the argmax of the logits as they come (token 1), whatever follows
        assertEquals(1, new Sampler(greedy.withOrder(SamplerOrder.parse("temperature;penalties")))
                .sample(LOGITS, 0, 6, history, 1));
        // top-k 1 before the penalties keeps token 1 alone; penalized, it is still the only candidate
        assertEquals(1, new Sampler(greedy.withOrder(SamplerOrder.parse("top_k;penalties;temperature")))
                .sample(LOGITS, 0, 6, history, 1));
        // without a temperature sampler nothing is greedy: a draw at temperature 1 (llama.cpp's chain does the same)
        SamplerOptions noTemperature = new SamplerOptions(0f, 0, 1f, 0f, 1f, 64, 1).withOrder(SamplerOrder.parse("top_k"));
        Sampler sampler = new Sampler(noTemperature);
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < 2000; i++) {
            seen.add(sampler.sample(LOGITS, 0, 6, null, 0));
        }
        assertTrue(seen.size() >= 4, "drawn: " + seen);
    }

    /** run.c's sampler at temperature 0 is its argmax; a logit bias (not run.c's) comes first. */
    @Test
    void llama2cGreedyAndBias() {
        SamplerOptions o = new SamplerOptions(0f, 0, 0.9f, 0f, 1f, 64, 1).withOrder(new SamplerOrder.Llama2c());
        assertEquals(1, new Sampler(o).sample(LOGITS, 0, 6, null, 0));
        assertEquals(3, new Sampler(o.withLogitBias(List.of(new LogitBias(1, Float.NEGATIVE_INFINITY))))
                .sample(LOGITS, 0, 6, null, 0));
        new SamplerOptions(1f, 0, 0f, 0f, 1f, 64, 1, 0f, 0f, List.of(), new SamplerOrder.Llama2c()); // run.c's p 0
        assertThrows(IllegalArgumentException.class, () -> new SamplerOptions(1f, 0, 0f, 0f, 1f, 64, 1));
    }
}
