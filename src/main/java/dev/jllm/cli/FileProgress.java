package dev.jllm.cli;

import dev.jllm.convert.ModelConverter;
import dev.jllm.format.gguf.GgufWriter;
import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/** Progress on stderr: a bar when stderr is a terminal, else a line per 10%; nothing for small files. */
abstract class FileProgress implements GgufWriter.Progress, ModelConverter.Progress, AutoCloseable {

    static FileProgress create(String task, PrintStream err, long total, long minBytes) {
        if (total < minBytes) {
            return new FileProgress() {
                @Override
                public void update(long written, long all) {
                }
            };
        }
        if (stderrIsTerminal()) {
            ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                    .setUnit(" MiB", 1L << 20).showSpeed().setUpdateIntervalMillis(250)
                    .setConsumer(new ConsoleProgressBarConsumer(err)).build();
            return new FileProgress() {
                @Override
                public void update(long written, long all) {
                    bar.stepTo(written);
                }

                @Override
                public void close() {
                    bar.close();
                }
            };
        }
        return new FileProgress() {
            private int tenths;

            @Override
            public void update(long written, long all) {
                while (tenths < 10 && written * 10 >= (tenths + 1) * all) {
                    tenths++;
                    err.printf("%s: %3d%% (%.1f of %.1f MiB)%n", task, tenths * 10, written / 1048576.0,
                            all / 1048576.0);
                }
            }
        };
    }

    @Override
    public void close() {
    }

    /** isatty(2) through the C library; when that cannot be asked, whether there is a console. */
    @SuppressWarnings("restricted") // native access is enabled by the launcher and the jar's manifest
    static boolean stderrIsTerminal() {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle isatty = linker.downcallHandle(linker.defaultLookup().find("isatty").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) isatty.invokeExact(2) == 1;
        } catch (Throwable t) {
            return System.console() != null;
        }
    }
}
