package dev.jllm.cli;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** Whether a standard stream is a terminal: the C library's isatty, which Java has no call for. */
final class Terminals {

    private Terminals() {
    }

    /** Whether file descriptor {@code fd} (0 standard input, 1 output, 2 error) is a terminal. */
    static boolean isTerminal(int fd) {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle isatty = linker.downcallHandle(linker.defaultLookup().find("isatty").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) isatty.invokeExact(fd) == 1;
        } catch (Throwable e) {
            // no C library to ask (or native access refused): Java's console tells about input and output together
            return System.console() != null && System.console().isTerminal();
        }
    }
}
