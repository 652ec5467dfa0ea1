package dev.jllm.cli;

import dev.jllm.chat.ChatTemplate;
import dev.jllm.chat.ChatTemplateException;
import dev.jllm.chat.Conversation;
import dev.jllm.chat.Message;
import dev.jllm.engine.Model;
import dev.jllm.tokenizer.Tokenizer;
import dev.jllm.format.ModelFile;
import dev.jllm.tokenizer.TokenizerSpec;
import picocli.CommandLine.Option;

/** Which chat template a command uses: --chat-template, or the model file's own. */
final class ChatTemplateOptions {

    @Option(names = "--chat-template", paramLabel = "NAME|FILE",
            description = "Chat template: built-in llama2, llama3, zephyr or chatml, or a .jinja file."
                    + " Default: the model file's own (tokenizer.chat_template).")
    String chatTemplate;

    /**
     * {@code userText} as one user message formatted by the template, with the generation prompt. A leading BOS text is
     * left out when the tokenizer adds BOS itself, so the prompt does not start with two (llama.cpp does the same).
     */
    String userPrompt(Model model, String userText) {
        return userPrompt(model, null, userText);
    }

    /** As {@link #userPrompt(Model, String)}, after a system message when {@code system} is not null. */
    String userPrompt(Model model, String system, String userText) {
        ChatTemplate template = resolve(model.file());
        Tokenizer tokenizer = model.tokenizer();
        String bos = tokenizer.bosId() >= 0 ? tokenizer.piece(tokenizer.bosId()) : null;
        String eos = tokenizer.eosId() >= 0 ? tokenizer.piece(tokenizer.eosId()) : null;
        String prompt = template.render(Conversation.of(Message.user(userText)).withSystem(system), true, bos, eos);
        if (bos != null && tokenizer.addBosByDefault() && prompt.startsWith(bos)) {
            prompt = prompt.substring(bos.length());
        }
        return prompt;
    }

    /**
     * The template asked for, else the model's (llama2's for the bundled demo model, which has none); fails with a
     * one-line message when there is none.
     */
    ChatTemplate resolve(ModelFile file) {
        if (chatTemplate != null) {
            return ChatTemplate.byNameOrFile(chatTemplate);
        }
        TokenizerSpec spec = file.tokenizer();
        if (spec != null && spec.chatTemplate() != null && !spec.chatTemplate().isBlank()) {
            return ChatTemplate.of(file.path().getFileName() + " (tokenizer.chat_template)", spec.chatTemplate());
        }
        if (file.path().equals(BundledModel.NAME)) {
            // The demo model was trained on plain stories and has no template; llama2's plain-text markers suit it
            // (the README's chat example uses them), so chat and serve work with no options at all.
            return ChatTemplate.byNameOrFile("llama2");
        }
        throw new ChatTemplateException(file.path().toString(), ChatTemplateException.Kind.SOURCE,
                "the model file has no chat template; choose one with --chat-template "
                        + String.join("|", ChatTemplate.builtinNames()) + "|FILE.jinja");
    }
}
