package dev.jllm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "template", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Print the prompt a chat template makes of a conversation, exactly as the model would receive it.")
final class TemplateCommand extends IoCommand implements Runnable {

    @Option(names = {"-m", "--model"}, paramLabel = "FILE",
            description = "Model file: its chat template (tokenizer.chat_template) and its BOS/EOS texts.")
    Path model;

    @Option(names = {"--template", "--chat-template"}, paramLabel = "FILE|NAME",
            description = "A .jinja file, or a built-in template (llama2, llama3, zephyr, chatml); overrides the model's.")
    String template;

    @Option(names = "--messages", required = true, paramLabel = "FILE",
            description = "The conversation: a JSON list of {\"role\", \"content\"} messages, or an object with"
                    + " \"messages\" (and optionally \"tools\").")
    Path messages;

    @Option(names = "--add-generation-prompt", description = "End with the start of an assistant answer.")
    boolean addGenerationPrompt;

    @Option(names = "--bos", paramLabel = "TEXT", description = "bos_token (default: the model's BOS text; none without -m).")
    String bos;

    @Option(names = "--eos", paramLabel = "TEXT", description = "eos_token (default: the model's EOS text; none without -m).")
    String eos;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        if (model == null && template == null) {
            throw new UserInputException("name a model (-m FILE) or a template (--template FILE.jinja)");
        }
        ChatTemplate chatTemplate = template != null ? ChatTemplate.byNameOrFile(template) : null;
        String bosText = bos;
        String eosText = eos;
        if (model != null) {
            try (ModelFile file = ModelLoaders.open(model)) {
                if (chatTemplate == null) {
                    ChatTemplateOptions fromModel = new ChatTemplateOptions();
                    chatTemplate = fromModel.resolve(file);
                }
                TokenizerSpec spec = file.tokenizer();
                if (spec != null) {
                    if (bosText == null && spec.bosId() >= 0) {
                        bosText = spec.tokens()[spec.bosId()];
                    }
                    if (eosText == null && spec.eosId() >= 0) {
                        eosText = spec.tokens()[spec.eosId()];
                    }
                }
            }
        }
        Conversation conversation = readConversation(messages);
        String prompt = chatTemplate.render(ChatTemplate.variables(conversation.messages(), conversation.tools(),
                addGenerationPrompt, bosText, eosText));
        out.print(prompt);
        out.flush();
    }

    /** The messages (and tools) as plain JSON values, so fields beyond role and content reach the template. */
    private record Conversation(List<?> messages, List<?> tools) {
    }

    private static Conversation readConversation(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            throw new UserInputException(file + ": no such file");
        } catch (IOException e) {
            throw new UserInputException(file + ": not a JSON conversation (" + e.getMessage().lines().findFirst().orElse("")
                    + ")");
        }
        JsonNode messages = root;
        JsonNode tools = null;
        if (root != null && root.isObject()) {
            messages = root.get("messages");
            tools = root.get("tools");
        }
        if (messages == null || !messages.isArray()) {
            throw new UserInputException(file + ": expected a JSON list of messages [{\"role\": ..., \"content\": ...}]"
                    + " or an object with \"messages\"");
        }
        ObjectMapper json = new ObjectMapper();
        return new Conversation(json.convertValue(messages, List.class),
                tools == null || tools.isNull() ? null : json.convertValue(tools, List.class));
    }
}
