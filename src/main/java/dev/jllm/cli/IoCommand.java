package dev.jllm.cli;

import java.io.InputStream;
import java.io.PrintStream;

/**
 * Base of the commands: where they print (stdout for results, stderr for progress and timings) and where they read
 * (standard input, and whether it is a terminal).
 */
abstract class IoCommand {

    protected PrintStream out = System.out;
    protected PrintStream err = System.err;
    protected InputStream in = System.in;
    protected boolean inIsTerminal;

    void streams(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    void input(InputStream in, boolean isTerminal) {
        this.in = in;
        this.inIsTerminal = isTerminal;
    }
}
