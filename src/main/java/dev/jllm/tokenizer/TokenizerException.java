package dev.jllm.tokenizer;

import dev.jllm.io.Printable;

/**
 * A tokenizer file or tokenizer input that cannot be used; the message names the file and the problem. It is always
 * one line: a token, pattern or line quoted from a broken file may hold any character, so the non-printable ones
 * (newlines included) are shown as escapes.
 */
public class TokenizerException extends RuntimeException {

    public TokenizerException(String message) {
        super(Printable.escape(message));
    }

    public TokenizerException(String message, Throwable cause) {
        super(Printable.escape(message), cause);
    }
}
