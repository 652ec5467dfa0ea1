package dev.jllm.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jllm.SharedData;
import java.util.Arrays;

/**
 * Feeds a reference run's tokens through jllm and compares logits: the row after the prompt and, at every step, the
 * five largest logits (same tokens, values within an absolute tolerance).
 */
final class TeacherForcing {

    private TeacherForcing() {
    }

    static void check(Model model, JsonNode golden, double tolerance, boolean fullRowAfterPrompt) {
        check(model, golden, tolerance, fullRowAfterPrompt, model.defaultContextSize());
    }

    static void check(Model model, JsonNode golden, double tolerance, boolean fullRowAfterPrompt, int contextSize) {
        check(model, golden, tolerance, tolerance, false, fullRowAfterPrompt, contextSize);
    }

    /**
     * @param promptTolerance   for the logits after the prompt
     * @param stepTolerance     for the top-5 logits at each generated step
     * @param allowTies         at the steps, accept a top-5 token tied with llama.cpp's fifth within the tolerance
     * @param fullRowAfterPrompt compare every logit after the prompt (else the top 5, as at the steps)
     */
    static void check(Model model, JsonNode golden, double promptTolerance, double stepTolerance, boolean allowTies,
            boolean fullRowAfterPrompt, int contextSize) {
        check(model, golden, promptTolerance, stepTolerance, allowTies, fullRowAfterPrompt, contextSize, false);
    }

    /**
     * As above; with {@code sameTop1}, also our largest logit is llama.cpp's top token at every step where llama.cpp's
     * top two differ by more than the step tolerance.
     */
    static void check(Model model, JsonNode golden, double promptTolerance, double stepTolerance, boolean allowTies,
            boolean fullRowAfterPrompt, int contextSize, boolean sameTop1) {
        int vocab = model.config().vocabSize();
        int[] promptIds = SharedData.ints(golden.get("prompt_ids"));
        Session session = model.newSession(SessionOptions.defaults(contextSize));
        float[] logits = session.append(promptIds);

        JsonNode after = golden.get("logits_after_prompt");
        assertEquals(vocab, after.size(), "logits_after_prompt length");
        if (fullRowAfterPrompt) {
            for (int i = 0; i < vocab; i++) {
                double expected = after.get(i).asDouble();
                if (Math.abs(logits[i] - expected) > promptTolerance) {
                    fail("after the prompt, logit of token " + i + " is " + logits[i] + ", llama.cpp " + expected
                            + " (tolerance " + promptTolerance + ")");
                }
            }
        } else {
            float[] expected = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                expected[i] = (float) after.get(i).asDouble();
            }
            compareTop5(logits, top5(expected), expected, promptTolerance, "after the prompt", false);
        }

        JsonNode steps = golden.get("steps");
        for (int s = 0; s < steps.size(); s++) {
            JsonNode step = steps.get(s);
            JsonNode top = step.get("top5");
            int[] ids = new int[top.size()];
            float[] values = new float[vocab];
            for (int k = 0; k < ids.length; k++) {
                ids[k] = top.get(k).get(0).asInt();
                values[ids[k]] = (float) top.get(k).get(1).asDouble();
            }
            String where = "step " + s + " (pos " + step.get("pos").asInt() + ")";
            compareTop5(logits, ids, values, stepTolerance, where, allowTies);
            if (sameTop1 && values[ids[0]] - values[ids[1]] > stepTolerance && top5(logits)[0] != ids[0]) {
                fail(where + ": our top token " + top5(logits)[0] + " is not llama.cpp's " + ids[0] + ", which leads by "
                        + (values[ids[0]] - values[ids[1]]));
            }
            if (s + 1 < steps.size()) {
                logits = session.append(step.get("id").asInt());
            }
        }
    }

    /**
     * Teacher forcing split at the run's first rounding flip. After the prompt every logit, and at each step before
     * {@code firstFlip} llama.cpp's five tokens with their logits, are within {@code exactTolerance}; from that step on
     * the five logits are within {@code driftTolerance} (with {@code allowTies}, a token tied with llama.cpp's fifth
     * may stand in for it). The flip is detected as the first step at which one of llama.cpp's five logits is more than
     * {@code exactTolerance} from ours, and must be the step given ({@code steps.size()} when none is): a run that
     * flips earlier fails, and one that flips later (or never) asks for its measured step to be updated.
     */
    static void checkSplitAtFirstFlip(Model model, JsonNode golden, double exactTolerance, int firstFlip,
            double driftTolerance, boolean allowTies, int contextSize) {
        int vocab = model.config().vocabSize();
        Session session = model.newSession(SessionOptions.defaults(contextSize));
        float[] logits = session.append(SharedData.ints(golden.get("prompt_ids")));
        JsonNode after = golden.get("logits_after_prompt");
        assertEquals(vocab, after.size(), "logits_after_prompt length");
        for (int i = 0; i < vocab; i++) {
            double expected = after.get(i).asDouble();
            if (Math.abs(logits[i] - expected) > exactTolerance) {
                fail("after the prompt, logit of token " + i + " is " + logits[i] + ", llama.cpp " + expected
                        + " (tolerance " + exactTolerance + ")");
            }
        }
        JsonNode steps = golden.get("steps");
        int detected = steps.size();
        double worstBefore = 0;
        double worstAfter = 0;
        for (int s = 0; s < steps.size(); s++) {
            JsonNode top = steps.get(s).get("top5");
            int[] ids = new int[top.size()];
            float[] values = new float[vocab];
            double error = 0;
            for (int k = 0; k < ids.length; k++) {
                ids[k] = top.get(k).get(0).asInt();
                values[ids[k]] = (float) top.get(k).get(1).asDouble();
                error = Math.max(error, Math.abs(logits[ids[k]] - top.get(k).get(1).asDouble()));
            }
            if (error > exactTolerance && detected == steps.size()) {
                detected = s;
            }
            String where = "step " + s + " (pos " + steps.get(s).get("pos").asInt() + ")";
            if (s < firstFlip) {
                if (error > exactTolerance) {
                    fail(where + ": a logit is " + error + " from llama.cpp's, more than " + exactTolerance
                            + ", before the run's measured first rounding flip at step " + firstFlip);
                }
                compareTop5(logits, ids, values, exactTolerance, where, false);
                worstBefore = Math.max(worstBefore, error);
            } else {
                compareTop5(logits, ids, values, driftTolerance, where + ", after the first flip", allowTies);
                worstAfter = Math.max(worstAfter, error);
            }
            if (s + 1 < steps.size()) {
                logits = session.append(steps.get(s).get("id").asInt());
            }
        }
        System.out.printf("teacher forcing %s \"%s\": first flip at step %d, worst %.2g before it, %.3g after%n",
                golden.get("model").asText(), golden.get("prompt").asText(), detected, worstBefore, worstAfter);
        assertEquals(firstFlip, detected, "the first step more than " + exactTolerance + " from llama.cpp (the first"
                + " rounding flip) moved from the measured step " + firstFlip + "; measure again and update it");
    }

    /**
     * Our five largest logits are llama.cpp's five tokens, each within the tolerance. With {@code allowTies}, a token
     * of ours may stand in for one of theirs only when it is tied with their fifth within the tolerance (its logit at
     * most their fifth value plus the tolerance): near-equal logits may swap places under any rounding difference.
     */
    private static void compareTop5(float[] logits, int[] expectedIds, float[] expectedValues, double tolerance,
            String where, boolean allowTies) {
        int[] actual = top5(logits);
        int[] a = actual.clone();
        int[] e = expectedIds.clone();
        Arrays.sort(a);
        Arrays.sort(e);
        float fifth = Float.POSITIVE_INFINITY;
        for (int id : expectedIds) {
            fifth = Math.min(fifth, expectedValues[id]);
        }
        boolean tiesOnly = true;
        for (int id : actual) {
            if (Arrays.binarySearch(e, id) < 0 && logits[id] > fifth + tolerance) {
                tiesOnly = false;
            }
        }
        if (!Arrays.equals(a, e) && !(allowTies && tiesOnly)) {
            fail(where + ": top-5 tokens " + Arrays.toString(actual) + " differ from llama.cpp's "
                    + Arrays.toString(expectedIds) + " (ours " + values(logits, actual) + ", theirs "
                    + values(expectedValues, expectedIds) + ")");
        }
        for (int id : expectedIds) {
            if (Math.abs(logits[id] - expectedValues[id]) > tolerance) {
                fail(where + ": logit of token " + id + " is " + logits[id] + ", llama.cpp " + expectedValues[id]
                        + " (tolerance " + tolerance + ")");
            }
        }
    }

    private static String values(float[] logits, int[] ids) {
        StringBuilder sb = new StringBuilder("[");
        for (int id : ids) {
            sb.append(sb.length() > 1 ? ", " : "").append(logits[id]);
        }
        return sb.append(']').toString();
    }

    static int[] top5(float[] logits) {
        int[] best = new int[5];
        Arrays.fill(best, -1);
        for (int i = 0; i < logits.length; i++) {
            for (int k = 0; k < 5; k++) {
                if (best[k] < 0 || logits[i] > logits[best[k]]) {
                    System.arraycopy(best, k, best, k + 1, 4 - k);
                    best[k] = i;
                    break;
                }
            }
        }
        return best;
    }
}
