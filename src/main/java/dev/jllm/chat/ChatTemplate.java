package dev.jllm.chat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A Jinja chat template, rendered as Hugging Face's {@code apply_chat_template} renders it with Python Jinja2
 * ({@code trim_blocks}, {@code lstrip_blocks}, {@code tojson} as {@code json.dumps}, {@code raise_exception},
 * {@code strftime_now}). The source comes from a model file ({@code tokenizer.chat_template}), a Hugging Face
 * {@code tokenizer_config.json}, a {@code .jinja} file, or one of the built-in templates for files that have none.
 */
public final class ChatTemplate {

    /** The built-in templates, by name, with the text that ends an assistant turn in each. */
    private static final Map<String, String> BUILTINS = new LinkedHashMap<>();

    static {
        BUILTINS.put("llama2", null);          // the answer ends with eos_token
        BUILTINS.put("llama3", "<|eot_id|>");
        BUILTINS.put("zephyr", null);
        BUILTINS.put("chatml", "<|im_end|>");
    }

    private final String name;
    private final String source;
    private final String endOfTurn;

    private ChatTemplate(String name, String source, String endOfTurn) {
        this.name = Objects.requireNonNull(name, "name");
        this.source = Objects.requireNonNull(source, "source");
        this.endOfTurn = endOfTurn;
    }

    /** A template from its Jinja source; {@code name} identifies it in error messages. */
    public static ChatTemplate of(String name, String source) {
        return new ChatTemplate(name, source, guessEndOfTurn(source));
    }

    /** Names of the built-in templates: {@code llama2}, {@code llama3}, {@code zephyr}, {@code chatml}. */
    public static List<String> builtinNames() {
        return List.copyOf(BUILTINS.keySet());
    }

    /** A built-in template by name (case-insensitive). */
    public static ChatTemplate builtin(String name) {
        String key = name.toLowerCase(Locale.ROOT);
        if (!BUILTINS.containsKey(key)) {
            throw new ChatTemplateException(name, ChatTemplateException.Kind.SOURCE,
                    "no such built-in template (built-in: " + String.join(", ", BUILTINS.keySet()) + ")");
        }
        try (InputStream in = ChatTemplate.class.getResourceAsStream(key + ".jinja")) {
            if (in == null) {
                throw new IllegalStateException("built-in template " + key + ".jinja is missing from the jar");
            }
            return new ChatTemplate(key, new String(in.readAllBytes(), StandardCharsets.UTF_8), BUILTINS.get(key));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A template read from a {@code .jinja} file (UTF-8), named after the file. */
    public static ChatTemplate read(Path file) {
        try {
            return of(file.getFileName().toString(), Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            throw new ChatTemplateException(file.toString(), ChatTemplateException.Kind.SOURCE, "no such file");
        } catch (IOException e) {
            throw new ChatTemplateException(file.toString(), ChatTemplateException.Kind.SOURCE,
                    "cannot read (" + e.getMessage() + ")");
        }
    }

    /** A built-in name, or else a {@code .jinja} file: what {@code --chat-template NAME|FILE} means. */
    public static ChatTemplate byNameOrFile(String nameOrFile) {
        if (BUILTINS.containsKey(nameOrFile.toLowerCase(Locale.ROOT))) {
            return builtin(nameOrFile);
        }
        Path file = Path.of(nameOrFile);
        if (Files.isRegularFile(file)) {
            return read(file);
        }
        throw new ChatTemplateException(nameOrFile, ChatTemplateException.Kind.SOURCE,
                "neither a built-in template (" + String.join(", ", BUILTINS.keySet()) + ") nor a file");
    }

    public String name() {
        return name;
    }

    public String source() {
        return source;
    }

    /**
     * The text that ends an assistant turn when it is not the EOS token: {@code <|eot_id|>}, {@code <|im_end|>}, ...
     * (known for the built-in templates, guessed from the source of others).
     */
    public Optional<String> endOfTurn() {
        return Optional.ofNullable(endOfTurn);
    }

    private static String guessEndOfTurn(String source) {
        for (String marker : new String[] {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|END_OF_TURN_TOKEN|>"}) {
            if (source.contains(marker)) {
                return marker;
            }
        }
        return null;
    }

    /**
     * The variables transformers passes: {@code messages}, {@code tools} and {@code documents} (None when absent),
     * {@code add_generation_prompt}, and {@code bos_token}/{@code eos_token} only when the tokenizer has them.
     */
    public static Map<String, Object> variables(List<?> messages, List<?> tools, boolean addGenerationPrompt,
            String bosToken, String eosToken) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("messages", messages);
        v.put("tools", tools);
        v.put("documents", null);
        v.put("add_generation_prompt", addGenerationPrompt);
        if (bosToken != null) {
            v.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            v.put("eos_token", eosToken);
        }
        return v;
    }

    /** Renders a conversation; a null token means the tokenizer has none (the variable stays undefined). */
    public String render(Conversation conversation, boolean addGenerationPrompt, String bosToken, String eosToken) {
        return render(variables(conversation.toMaps(), null, addGenerationPrompt, bosToken, eosToken));
    }

    /** Renders with the given variables (see {@link #variables}); {@code strftime_now} reads the clock. */
    public String render(Map<String, Object> variables) {
        return render(variables, LocalDateTime.now());
    }

    /** Renders with the given variables and the time {@code strftime_now} reports. */
    public String render(Map<String, Object> variables, LocalDateTime now) {
        try {
            return JinjaEngine.get().render(source, variables, now);
        } catch (JinjaEngine.RenderFailure e) {
            ChatTemplateException.Kind kind = switch (e.kind) {
                case RAISED -> ChatTemplateException.Kind.RAISED;
                case TYPE -> ChatTemplateException.Kind.TYPE;
                case UNDEFINED -> ChatTemplateException.Kind.UNDEFINED;
                case SYNTAX -> ChatTemplateException.Kind.SYNTAX;
                case LIMIT -> ChatTemplateException.Kind.LIMIT;
            };
            throw new ChatTemplateException(name, kind, e.getMessage());
        }
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + name + "]";
    }
}
