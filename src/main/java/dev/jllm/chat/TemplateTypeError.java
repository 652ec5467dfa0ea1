package dev.jllm.chat;

/** A failure that Python would raise as TypeError or UndefinedError while rendering (thrown inside the engine). */
final class TemplateTypeError extends RuntimeException {

    TemplateTypeError(String message) {
        super(message, null, false, false);
    }
}
