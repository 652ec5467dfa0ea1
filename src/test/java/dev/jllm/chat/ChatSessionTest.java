package dev.jllm.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.model.KvCache;
import dev.jllm.sampling.SamplerOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Chat turns on the real TinyStories 260K model (llama2.c checkpoint, no template in the file: built-in llama2). */
class ChatSessionTest {

    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(SharedData.model("stories260K.bin"), SharedData.model("tok512.bin"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static ChatSession chat(int context, KvCache.Type cache, int maxTokens) {
        Session session = model.newSession(new SessionOptions(context, SessionOptions.Prefill.BATCH, true, cache));
        return new ChatSession(model, session, ChatTemplate.builtin("llama2"), SamplerOptions.greedy(), maxTokens);
    }

    static int commonPrefix(int[] a, int[] b) {
        int n = 0;
        while (n < Math.min(a.length, b.length) && a[n] == b[n]) {
            n++;
        }
        return n;
    }

    @Test
    void theSecondTurnRunsOnlyTheNewTokensAndGivesTheLogitsOfARunFromScratch() {
        for (KvCache.Type cache : KvCache.Type.values()) {
            ChatSession chat = chat(512, cache, 24);
            ChatSession.Reply first = chat.respond("Once upon a time", null, null, null);
            int[] firstPrompt = chat.tokenize(chat.render(Conversation.of(Message.user("Once upon a time"))));
            assertEquals(0, first.reusedTokens());
            assertEquals(firstPrompt.length, first.processedTokens());
            assertEquals(24, first.generatedTokens());
            int[] held = chat.session().tokens();
            assertEquals(firstPrompt.length + 23, held.length, "the prompt and the answer's tokens (the last one never ran)");

            Conversation next = chat.conversation().with(Message.user("What did the girl do?"));
            int[] secondPrompt = chat.tokenize(chat.render(next));
            int common = commonPrefix(held, secondPrompt);
            assertTrue(common >= firstPrompt.length, "the whole first prompt is shared: " + common);

            ChatSession.Prefill prefill = chat.prefill(secondPrompt);
            assertEquals(common, prefill.reusedTokens());
            assertEquals(secondPrompt.length - common, prefill.processedTokens(), "only the new tokens run");
            assertTrue(prefill.processedTokens() <= secondPrompt.length - firstPrompt.length, prefill.toString());
            assertEquals(Arrays.toString(secondPrompt), Arrays.toString(chat.session().tokens()));

            Session fresh = model.newSession(new SessionOptions(512, SessionOptions.Prefill.BATCH, true, cache));
            float[] fromScratch = fresh.append(secondPrompt);
            assertClose(fromScratch, prefill.logits(), 1e-4, cache.toString());
        }
    }

    /** Every logit within {@code relative} of the largest logit magnitude. */
    static void assertClose(float[] expected, float[] actual, double relative, String what) {
        assertEquals(expected.length, actual.length);
        double scale = 0;
        for (float e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(expected[i] - actual[i]);
            if (diff > relative * scale) {
                throw new AssertionError(what + ": logit " + i + " " + actual[i] + " vs " + expected[i] + " from scratch");
            }
        }
    }

    @Test
    void respondReusesTheCacheAcrossTurns() {
        ChatSession chat = chat(512, KvCache.Type.F16, 16);
        List<ChatSession.Reply> replies = new ArrayList<>();
        int previousPrompt = 0;
        for (String message : new String[] {"Hello", "Tell me a story", "Why?"}) {
            int prompt = chat.tokenize(chat.render(chat.conversation().with(Message.user(message)))).length;
            ChatSession.Reply r = chat.respond(message, null, null, null);
            assertEquals(prompt, r.reusedTokens() + r.processedTokens());
            assertTrue(r.reusedTokens() >= previousPrompt, "the previous prompt is kept: " + r);
            replies.add(r);
            previousPrompt = prompt;
        }
        assertEquals(6, chat.conversation().size());
        StringBuilder streamed = new StringBuilder();
        ChatSession again = chat(512, KvCache.Type.F16, 16);
        ChatSession.Reply r = again.respond("Hello", streamed::append, null, null);
        assertEquals(replies.getFirst().text(), r.text(), "greedy answers repeat");
        assertEquals(r.text(), streamed.toString().strip(), "the streamed text is the answer");
    }

    @Test
    void aStopRequestEndsTheAnswer() {
        ChatSession chat = chat(512, KvCache.Type.F16, -1);
        AtomicInteger polls = new AtomicInteger();
        ChatSession.Reply r = chat.respond("Once upon a time", null, null, () -> polls.incrementAndGet() > 5);
        assertEquals(ChatSession.StopReason.INTERRUPTED, r.stopReason());
        assertEquals(5, r.generatedTokens());
        assertEquals(Message.assistant(r.text()), chat.conversation().last());
    }

    @Test
    void aFullContextDropsTheOldestTurnsWithANotice() {
        ChatSession chat = chat(96, KvCache.Type.F16, 12);
        List<String> notices = new ArrayList<>();
        chat.setConversation(Conversation.empty().withSystem("Be kind."));
        for (int i = 0; i < 6; i++) {
            chat.respond("Tell me about the dog number " + i, null, notices::add, null);
            assertTrue(chat.session().length() <= 96);
        }
        assertFalse(notices.isEmpty(), "a notice when turns are dropped");
        assertTrue(notices.getFirst().startsWith("the context is full: dropped the oldest"), notices.getFirst());
        Conversation c = chat.conversation();
        assertEquals(Message.system("Be kind."), c.messages().getFirst(), "the system prompt stays");
        assertEquals(Message.user("Tell me about the dog number 5"), c.messages().get(c.size() - 2));
        assertTrue(c.size() < 13, "older turns are gone: " + c.size());
    }
}
