package dev.jllm.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * An output path jllm will not write: a device, a FIFO, a socket or a folder where a file is expected, a folder that
 * is not empty, a missing parent folder, a link where links are refused. The message is one line,
 * "cannot write TARGET: REASON".
 */
public final class OutputPathException extends IOException {

    private final transient Path target;
    private final String reason;

    public OutputPathException(Path target, String reason) {
        super("cannot write " + Printable.escape(String.valueOf(target)) + ": " + reason);
        this.target = target;
        this.reason = reason;
    }

    public Path target() {
        return target;
    }

    /** What is wrong, without the target's name. */
    public String reason() {
        return reason;
    }
}
