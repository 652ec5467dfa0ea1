package dev.jllm.cli;

import dev.jllm.engine.ContextFullException;
import dev.jllm.format.ModelFormatException;
import dev.jllm.tokenizer.TokenizerException;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jllm} command line: parses, dispatches to one command class per job, and turns failures into one line. */
@Command(name = "jllm",
        mixinStandardHelpOptions = true,
        version = "jllm 0.1.0",
        description = "LLaMA-family inference in Java.",
        subcommands = {
            GenerateCommand.class,
            BenchCommand.class,
            PerplexityCommand.class,
            InspectCommand.class,
            TokenizeCommand.class,
            ChatCommand.class, TemplateCommand.class,
            ServeCommand.class,
            ConvertCommand.class,
            DumpCommand.class,
            PullCommand.class, ListCommand.class, RmCommand.class,
            SynthCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {

    /** Exit code for bad input (a file, an option value, a prompt): the user can fix it. */
    static final int EXIT_BAD_INPUT = 2;
    /** Exit code for a failure that is jllm's fault. */
    static final int EXIT_INTERNAL = 1;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "a command is required; see jllm --help for the list");
    }

    public static void main(String[] args) {
        Timeline.mark("main");
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        int code = run(args, out, err);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the command line with the given streams and returns the exit code (used by tests). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        java.util.Locale.setDefault(java.util.Locale.ROOT); // numbers print with '.' whatever the machine's locale
        boolean verbose = Arrays.asList(args).contains("--verbose");
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        for (CommandLine sub : cli.getSubcommands().values()) {
            if (sub.getCommand() instanceof IoCommand io) {
                io.streams(out, err);
            }
        }
        cli.setParameterExceptionHandler((ex, a) -> {
            err.println("jllm: " + ex.getMessage());
            err.println("Try 'jllm " + (ex.getCommandLine().getCommandName().equals("jllm") ? "" : ex.getCommandLine().getCommandName() + " ") + "--help' for the options.");
            return EXIT_BAD_INPUT;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            Throwable e = ex;
            boolean badInput = isBadInput(e);
            err.println("jllm: " + (badInput ? "" : "internal error: ") + oneLine(e));
            if (verbose) {
                e.printStackTrace(err);
            } else if (!badInput) {
                err.println("(run again with --verbose for the stack trace)");
            }
            return badInput ? EXIT_BAD_INPUT : EXIT_INTERNAL;
        });
        return cli.execute(args);
    }

    static boolean isBadInput(Throwable e) {
        return e instanceof ModelFormatException || e instanceof TokenizerException || e instanceof UserInputException
                || e instanceof ContextFullException || e instanceof IllegalArgumentException;
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        return m.replace('\n', ' ').strip();
    }
}
