package dev.jllm.chat;

/**
 * A chat template that cannot be read or rendered. The message is one line naming the template and the Jinja error;
 * when the template itself refused the conversation ({@code raise_exception}), {@link #templateMessage()} is its own
 * words. An IllegalArgumentException, so the command line reports it as bad input.
 */
public final class ChatTemplateException extends IllegalArgumentException {

    /** What went wrong, in Jinja2's terms. */
    public enum Kind {
        /** The template called {@code raise_exception(message)}: Jinja2's TemplateError. */
        RAISED,
        /** An operation on values of the wrong type, such as iterating over None: Python's TypeError. */
        TYPE,
        /** A name the template needs was not passed: Jinja2's UndefinedError. */
        UNDEFINED,
        /** The template's syntax, or anything else the engine could not do. */
        SYNTAX,
        /** The template could not be found or read. */
        SOURCE,
        /** Rendering exceeded one of {@link TemplateLimits}' bounds (time, size, loops, nesting). */
        LIMIT
    }

    private final String templateName;
    private final Kind kind;
    private final String templateMessage;

    public ChatTemplateException(String templateName, Kind kind, String templateMessage) {
        super("chat template '" + templateName + "': " + oneLine(templateMessage));
        this.templateName = templateName;
        this.kind = kind;
        this.templateMessage = templateMessage;
    }

    private static String oneLine(String s) {
        return s == null ? "error" : s.replace("\r", " ").replace('\n', ' ').strip();
    }

    public String templateName() {
        return templateName;
    }

    public Kind kind() {
        return kind;
    }

    /** The error as the engine gave it (for {@link Kind#RAISED}, exactly the template's message). */
    public String templateMessage() {
        return templateMessage;
    }
}
