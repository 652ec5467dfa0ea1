package dev.jllm.chat;

import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.StopStrings;
import dev.jllm.sampling.Sampler;
import dev.jllm.sampling.SamplerOptions;
import dev.jllm.tokenizer.TokenStreamDecoder;
import dev.jllm.tokenizer.Tokenizer;
import dev.jllm.tokenizer.TokenizerSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * A conversation with a model through a chat template. Each turn renders the whole conversation, keeps the part of
 * the session's KV cache that the new prompt shares with it (the common token prefix) and runs only the rest, then
 * samples the answer until an end-of-turn token, the template's end-of-turn text, a token limit or a full context.
 * When the prompt no longer fits, the oldest turns are dropped (and reported).
 */
public final class ChatSession {

    /** Why an answer ended. */
    public enum StopReason {
        END_OF_TURN("end of turn"),
        MAX_TOKENS("token limit reached"),
        CONTEXT_FULL("context full"),
        INTERRUPTED("interrupted");

        public final String description;

        StopReason(String description) {
            this.description = description;
        }
    }

    /**
     * One answer.
     *
     * @param text            the answer as stored in the conversation (without the end-of-turn marker, trimmed)
     * @param stopReason      why it ended
     * @param reusedTokens    prompt tokens whose KV cache was kept from earlier turns
     * @param processedTokens prompt tokens run through the model for this turn
     * @param generatedTokens tokens sampled
     * @param droppedMessages messages dropped from the start of the conversation to make room
     * @param promptNanos     time spent on the prompt
     * @param generateNanos   time spent generating
     */
    public record Reply(String text, StopReason stopReason, int reusedTokens, int processedTokens, int generatedTokens,
            int droppedMessages, long promptNanos, long generateNanos) {

        public double generateTokensPerSecond() {
            return generateNanos == 0 ? 0 : Math.max(0, generatedTokens - 1) * 1e9 / generateNanos;
        }
    }

    /** What happened to the prompt of one turn (for callers that drive the session token by token, and tests). */
    public record Prefill(float[] logits, int reusedTokens, int processedTokens) {
    }

    private final Model model;
    private final Session session;
    private final ChatTemplate template;
    private final Tokenizer tokenizer;
    private final String bosText;
    private final String eosText;
    private final int endOfTurnId;
    /** Texts that end an answer: the template's end-of-turn marker when the vocabulary lacks it, reverse prompts. */
    private final List<String> endTexts;
    private final Sampler sampler;
    private final int maxTokens;
    private Conversation conversation = Conversation.empty();

    /**
     * @param maxTokens tokens per answer at most; negative: until the end of the turn or a full context
     */
    public ChatSession(Model model, Session session, ChatTemplate template, SamplerOptions sampling, int maxTokens) {
        this(model, session, template, sampling, maxTokens, List.of());
    }

    /**
     * @param maxTokens      tokens per answer at most; negative: until the end of the turn or a full context
     * @param reversePrompts texts that end an answer where it contains them (never shown nor kept), as llama.cpp's
     *                       {@code --reverse-prompt}; none empty
     */
    public ChatSession(Model model, Session session, ChatTemplate template, SamplerOptions sampling, int maxTokens,
            List<String> reversePrompts) {
        this.model = Objects.requireNonNull(model, "model");
        this.session = Objects.requireNonNull(session, "session");
        this.template = Objects.requireNonNull(template, "template");
        this.tokenizer = model.tokenizer();
        this.bosText = tokenizer.bosId() >= 0 ? tokenizer.piece(tokenizer.bosId()) : null;
        this.eosText = tokenizer.eosId() >= 0 ? tokenizer.piece(tokenizer.eosId()) : null;
        String marker = template.endOfTurn().orElse(null);
        int markerId = -1;
        if (marker != null) {
            int[] ids = tokenizer.encode(marker, false, true);
            if (ids.length == 1 && isSpecial(model, ids[0])) {
                markerId = ids[0];
            }
        }
        this.endOfTurnId = markerId;
        List<String> ends = new ArrayList<>();
        if (marker != null && markerId < 0) {
            ends.add(marker); // a marker the vocabulary lacks is matched as text
        }
        ends.addAll(reversePrompts);
        this.endTexts = List.copyOf(ends);
        this.sampler = new Sampler(sampling);
        this.maxTokens = maxTokens;
    }

    private static boolean isSpecial(Model model, int id) {
        TokenizerSpec spec = model.file().tokenizer();
        if (spec == null || spec.tokenTypes() == null) {
            return false;
        }
        int type = spec.tokenTypes()[id];
        return type == TokenizerSpec.TYPE_CONTROL || type == TokenizerSpec.TYPE_USER_DEFINED;
    }

    public ChatTemplate template() {
        return template;
    }

    public Session session() {
        return session;
    }

    public Conversation conversation() {
        return conversation;
    }

    /** Replaces the conversation (for /reset, /system, /load); the KV cache is reused where the prompts agree. */
    public void setConversation(Conversation conversation) {
        this.conversation = Objects.requireNonNull(conversation, "conversation");
    }

    /** The BOS text passed to the template as {@code bos_token} (the vocabulary's BOS piece), or null. */
    public String bosText() {
        return bosText;
    }

    public String eosText() {
        return eosText;
    }

    /** Renders {@code conversation} with the generation prompt. */
    public String render(Conversation c) {
        return template.render(c, true, bosText, eosText);
    }

    /**
     * The tokens of a rendered prompt: special-token texts become special tokens, and BOS is added first when the
     * tokenizer adds it and the template did not (as llama.cpp does).
     */
    public int[] tokenize(String prompt) {
        int[] ids = tokenizer.encode(prompt, false, true);
        int bos = tokenizer.bosId();
        if (tokenizer.addBosByDefault() && bos >= 0 && (ids.length == 0 || ids[0] != bos)) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = bos;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            return withBos;
        }
        return ids;
    }

    /**
     * Brings the session to {@code ids}: keeps the longest prefix it already holds, drops the rest of its tokens and
     * runs the remaining ones. Returns the logits after the last token.
     */
    public Prefill prefill(int[] ids) {
        if (ids.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens");
        }
        int[] held = session.tokens();
        int common = 0;
        int limit = Math.min(held.length, ids.length);
        while (common < limit && held[common] == ids[common]) {
            common++;
        }
        if (common == ids.length) {
            common--; // the last token must run again to give its logits
        }
        session.truncate(common);
        float[] logits = session.append(Arrays.copyOfRange(ids, common, ids.length));
        return new Prefill(logits, common, ids.length - common);
    }

    /**
     * Adds a user message and generates the answer, which is added to the conversation too.
     *
     * @param onText   receives the answer's text as it is generated (may be null)
     * @param onNotice receives notices such as dropped turns (may be null)
     * @param stop     polled before each token: true interrupts the answer (may be null)
     */
    public Reply respond(String userText, Consumer<String> onText, Consumer<String> onNotice, BooleanSupplier stop) {
        Consumer<String> notice = onNotice != null ? onNotice : s -> { };
        Conversation next = conversation.with(Message.user(userText));
        int[] ids = tokenize(render(next));
        int dropped = 0;
        int budget = Math.max(1, session.contextSize() * 3 / 4); // leave a quarter of the context for the answer
        while (ids.length > budget) {
            Conversation shorter = dropOldest(next);
            if (shorter == null) {
                break;
            }
            dropped += next.size() - shorter.size();
            next = shorter;
            ids = tokenize(render(next));
        }
        if (ids.length >= session.contextSize()) {
            throw new IllegalArgumentException("the message needs a prompt of " + ids.length
                    + " tokens but the context holds " + session.contextSize() + " (raise --ctx-size or shorten it)");
        }
        if (dropped > 0) {
            notice.accept("the context is full: dropped the oldest " + dropped + " message" + (dropped == 1 ? "" : "s")
                    + " of the conversation");
        }
        conversation = next;
        long t0 = System.nanoTime();
        Prefill prefill = prefill(ids);
        long t1 = System.nanoTime();
        Answer answer = generate(prefill.logits(), ids[ids.length - 1], onText, stop);
        long t2 = System.nanoTime();
        conversation = conversation.with(Message.assistant(answer.text));
        return new Reply(answer.text, answer.reason, prefill.reusedTokens(), prefill.processedTokens(), answer.tokens,
                dropped, t1 - t0, t2 - t1);
    }

    /** The conversation without its oldest turn, keeping the system prompt and the last (new) message; or null. */
    private static Conversation dropOldest(Conversation c) {
        if (c.size() - (c.system().isPresent() ? 1 : 0) <= 1) {
            return null;
        }
        return c.withoutOldestTurn().orElse(null);
    }

    private record Answer(String text, StopReason reason, int tokens) {
    }

    private Answer generate(float[] logits, int lastPromptId, Consumer<String> onText, BooleanSupplier stop) {
        StreamText stream = new StreamText(endTexts, onText);
        TokenStreamDecoder decoder = new TokenStreamDecoder(tokenizer, lastPromptId);
        int vocab = model.config().vocabSize();
        int count = 0;
        StopReason reason;
        while (true) {
            if (stop != null && stop.getAsBoolean()) {
                reason = StopReason.INTERRUPTED;
                break;
            }
            if (maxTokens >= 0 && count >= maxTokens) {
                reason = StopReason.MAX_TOKENS;
                break;
            }
            int[] history = session.tokens();
            int next = sampler.sample(logits, 0, vocab, history, history.length);
            if (tokenizer.isEndOfGeneration(next) || next == endOfTurnId) {
                reason = StopReason.END_OF_TURN;
                break;
            }
            count++;
            if (stream.accept(decoder.accept(next))) {
                reason = StopReason.END_OF_TURN;
                break;
            }
            if (maxTokens >= 0 && count >= maxTokens) {
                reason = StopReason.MAX_TOKENS; // the last token need not run: the next turn re-renders anyway
                break;
            }
            if (session.length() >= session.contextSize()) {
                reason = StopReason.CONTEXT_FULL;
                break;
            }
            logits = session.append(next);
        }
        if (reason != StopReason.END_OF_TURN || !stream.ended) {
            stream.accept(decoder.flush());
        }
        stream.finish();
        return new Answer(stream.text().strip(), reason, count);
    }

    /**
     * The answer's text as it streams: leading whitespace is held back until text arrives, and when the end of a turn
     * is a text (a marker, a reverse prompt), anything that could be its beginning is held back until it is known not
     * to be.
     */
    private static final class StreamText {
        private final StopStrings ends;
        private final Consumer<String> sink;
        /** The text released by {@link #ends}: everything before an end text and not held back. */
        private final StringBuilder text = new StringBuilder();
        private int emitted;
        private boolean ended;

        StreamText(List<String> endTexts, Consumer<String> sink) {
            this.ends = new StopStrings(endTexts);
            this.sink = sink != null ? sink : s -> { };
        }

        /** Adds a piece; true when an end text has appeared (the text is cut before it). */
        boolean accept(String piece) {
            if (ended || piece.isEmpty()) {
                return ended;
            }
            text.append(ends.accept(piece));
            ended = ends.stopped();
            emit(text.length());
            return ended;
        }

        private void emit(int upTo) {
            int from = emitted;
            if (from == 0) {
                while (from < upTo && Character.isWhitespace(text.charAt(from))) {
                    from++;
                }
                if (from == upTo) {
                    return; // only whitespace so far: wait for text
                }
            }
            if (upTo > from) {
                sink.accept(text.substring(from, upTo));
                emitted = upTo;
            }
        }

        void finish() {
            text.append(ends.flush());
            emit(text.length());
        }

        String text() {
            return text.toString();
        }
    }
}
