package dev.jllm.cli;

/** A problem with what the user asked for (a file, an option value): printed as one line, exit code 2. */
final class UserInputException extends RuntimeException {

    UserInputException(String message) {
        super(message);
    }

    UserInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
