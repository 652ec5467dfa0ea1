package dev.jllm.server;

import dev.jllm.chat.ChatTemplate;
import dev.jllm.chat.ChatTemplateException;
import dev.jllm.chat.Conversation;
import dev.jllm.engine.Model;
import dev.jllm.tokenizer.Tokenizer;
import dev.jllm.tokenizer.TokenizerSpec;

/**
 * Turns chat messages into prompt tokens with the model's chat template, as {@code jllm generate --chat} does: the
 * template renders the conversation with the generation prompt, a leading BOS text is dropped when the tokenizer adds
 * BOS itself, and special-token texts become special tokens. Also knows how the template ends an assistant turn.
 */
final class ChatPrompt {

    private final ChatTemplate template;
    private final Tokenizer tokenizer;
    private final String bosText;
    private final String eosText;
    private final int endOfTurnToken;
    private final String endOfTurnText;

    /** @param template null when the model has none and none was given: chat requests then get a 400 */
    ChatPrompt(Model model, ChatTemplate template) {
        this.template = template;
        this.tokenizer = model.tokenizer();
        this.bosText = tokenizer.bosId() >= 0 ? tokenizer.piece(tokenizer.bosId()) : null;
        this.eosText = tokenizer.eosId() >= 0 ? tokenizer.piece(tokenizer.eosId()) : null;
        String marker = template != null ? template.endOfTurn().orElse(null) : null;
        int markerId = -1;
        if (marker != null) {
            int[] ids = tokenizer.encode(marker, false, true);
            if (ids.length == 1 && isSpecial(model, ids[0])) {
                markerId = ids[0];
            }
        }
        this.endOfTurnToken = markerId;
        this.endOfTurnText = markerId >= 0 ? null : marker;
    }

    private static boolean isSpecial(Model model, int id) {
        TokenizerSpec spec = model.file().tokenizer();
        if (spec == null || spec.tokenTypes() == null) {
            return false;
        }
        int type = spec.tokenTypes()[id];
        return type == TokenizerSpec.TYPE_CONTROL || type == TokenizerSpec.TYPE_USER_DEFINED;
    }

    String templateName() {
        return template == null ? null : template.name();
    }

    /** The token that ends an assistant turn besides end-of-text ({@code <|eot_id|>}, ...), or -1. */
    int endOfTurnToken() {
        return endOfTurnToken;
    }

    /** The text that ends an assistant turn when the vocabulary has no such token, or null: a stop string. */
    String endOfTurnText() {
        return endOfTurnText;
    }

    /** The prompt's tokens; a template that refuses the conversation gives a 400 with the template's message. */
    int[] tokens(Conversation conversation) {
        if (template == null) {
            throw ApiException.invalid("messages", "no_chat_template", "the model file has no chat template; start"
                    + " the server with --chat-template " + String.join("|", ChatTemplate.builtinNames())
                    + "|FILE.jinja, or use /v1/completions");
        }
        String prompt;
        try {
            prompt = template.render(conversation, true, bosText, eosText);
        } catch (ChatTemplateException e) {
            String message = e.kind() == ChatTemplateException.Kind.RAISED ? e.templateMessage() : e.getMessage();
            throw ApiException.invalid("messages", "chat_template_error",
                    "the chat template '" + e.templateName() + "' rejected the messages: " + message);
        }
        if (bosText != null && tokenizer.addBosByDefault() && prompt.startsWith(bosText)) {
            prompt = prompt.substring(bosText.length());
        }
        return tokenizer.encode(prompt, tokenizer.addBosByDefault(), true);
    }
}
