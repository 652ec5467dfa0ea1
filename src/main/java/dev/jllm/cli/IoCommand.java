package dev.jllm.cli;

import java.io.PrintStream;

/** Base of the commands: where they print (stdout for results, stderr for progress and timings). */
abstract class IoCommand {

    protected PrintStream out = System.out;
    protected PrintStream err = System.err;

    void streams(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }
}
