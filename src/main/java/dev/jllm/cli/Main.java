package dev.jllm.cli;

import dev.jllm.engine.ContextFullException;
import dev.jllm.format.ModelFormatException;
import dev.jllm.io.Printable;
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
        description = "LLaMA-family inference in Java. Without -m or -hf, the commands that run a model use the bundled"
                + " TinyStories-260K demo model.",
        usageHelpWidth = 100,
        footer = {"",
            "Examples:",
            "  jllm generate -p \"Once upon a time\" --temp 0 -n 200      # the bundled demo model tells a story",
            "  jllm generate -m model.gguf -p \"The capital of France is\" -n 32",
            "  jllm generate -hf TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_0 -p \"Hello\"   # pulled, then cached",
            "  jllm chat -m model.gguf                                     # an interactive chat",
            "  jllm serve -m model.gguf -np 4                              # OpenAI API and chat page on :8080",
            "  jllm bench -m model.gguf -t 1,2 -p 128,512 -n 64 -o csv",
            "  jllm COMMAND --help                                         # the options of a command"},
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

    /** One line per command for {@code jllm --help}; a command without one shows its description's first sentence. */
    private static final java.util.Map<String, String> SUMMARIES = java.util.Map.ofEntries(
            java.util.Map.entry("generate", "Continue a prompt (streams the text; --format json for ids and timings)"),
            java.util.Map.entry("chat", "Chat with a model: in the terminal, or one message per line from a pipe"),
            java.util.Map.entry("bench", "Measure prompt processing and generation speed, as llama-bench"),
            java.util.Map.entry("perplexity", "Perplexity of a text file, as llama-perplexity"),
            java.util.Map.entry("tokenize", "Show the tokens of a text (or the text of token ids), as llama-tokenize"),
            java.util.Map.entry("inspect", "Show a model file's format, config, tokenizer and tensors"),
            java.util.Map.entry("template", "Show the prompt a chat template makes of a conversation"),
            java.util.Map.entry("serve", "Serve an OpenAI-compatible HTTP API and a chat page, many clients at once"),
            java.util.Map.entry("convert", "Convert a model between GGUF, Hugging Face, llama2.c and flat FP16"),
            java.util.Map.entry("dump", "Dump weights or activations as CSV or .npy files"),
            java.util.Map.entry("pull", "Download a model from the Hugging Face Hub into the cache"),
            java.util.Map.entry("list", "List the models in the cache"),
            java.util.Map.entry("rm", "Remove a model from the cache"),
            java.util.Map.entry("synth", "Write a GGUF model with random weights, for benchmarks"),
            java.util.Map.entry("help", "Show the help of a command"));

    /** The command list of {@code jllm --help}: one line per command. */
    private static String commandList(CommandLine.Model.CommandSpec spec) {
        StringBuilder list = new StringBuilder();
        for (var e : spec.subcommands().entrySet()) {
            String summary = SUMMARIES.get(e.getKey());
            if (summary == null) {
                String[] description = e.getValue().getCommandSpec().usageMessage().description();
                summary = description.length == 0 ? "" : description[0].split("(?<=[.:;])\\s", 2)[0];
            }
            list.append(String.format("  %-11s %s%n", e.getKey(), summary));
        }
        return list.toString();
    }

    /** Exit code for bad input (a file, an option value, a prompt): the user can fix it. */
    static final int EXIT_BAD_INPUT = 2;
    /** Exit code for a failure that is jllm's fault. */
    static final int EXIT_INTERNAL = 1;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    /** {@code jllm} alone: what there is to do, as {@code jllm --help} says it. */
    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        Timeline.mark("main");
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        int code = run(Utf8Arguments.recover(args), System.in, Terminals.isTerminal(0), out, err);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the command line with the given streams and returns the exit code (used by tests). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, System.in, Terminals.isTerminal(0), out, err);
    }

    /** Runs the command line with the given standard input (and whether it is a terminal) and output streams. */
    public static int run(String[] args, java.io.InputStream in, boolean inIsTerminal, PrintStream out, PrintStream err) {
        java.util.Locale.setDefault(java.util.Locale.ROOT); // numbers print with '.' whatever the machine's locale
        boolean verbose = Arrays.asList(args).contains("--verbose");
        Utf8Arguments.warnIfInvalid(args, err);
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        // llama.cpp's multi-letter short flags (-ngl, -sys, -cnv) are whole options, never clusters such as -n gl
        cli.setPosixClusteredShortOptionsAllowed(false);
        cli.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST,
                help -> commandList(help.commandSpec()));
        for (CommandLine sub : cli.getSubcommands().values()) {
            if (sub.getCommand() instanceof IoCommand io) {
                io.streams(out, err);
                io.input(in, inIsTerminal);
            }
        }
        cli.setParameterExceptionHandler((ex, a) -> {
            err.println("jllm: " + Printable.oneLine(unknownArgument(ex).orElse(ex.getMessage())));
            err.println("Try 'jllm " + (ex.getCommandLine().getCommandName().equals("jllm") ? "" : ex.getCommandLine().getCommandName() + " ") + "--help' for the options.");
            return EXIT_BAD_INPUT;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            Throwable e = ex;
            boolean badInput = isBadInput(e);
            err.println("jllm: " + (badInput ? "" : "internal error: ") + oneLine(e));
            if (verbose) {
                java.io.StringWriter trace = new java.io.StringWriter();
                e.printStackTrace(new PrintWriter(trace));
                trace.toString().lines().forEach(line -> { // the frames' leading tab kept, the rest escaped
                    int tabs = 0;
                    while (tabs < line.length() && line.charAt(tabs) == '\t') {
                        tabs++;
                    }
                    err.println(line.substring(0, tabs) + Printable.escape(line.substring(tabs)));
                });
            } else if (!badInput) {
                err.println("(run again with --verbose for the stack trace)");
            }
            return badInput ? EXIT_BAD_INPUT : EXIT_INTERNAL;
        });
        return cli.execute(args);
    }

    /** "unknown command 'foo'" with the list of commands, or "unknown option -x"; empty for other parameter errors. */
    private static java.util.Optional<String> unknownArgument(CommandLine.ParameterException ex) {
        if (!(ex instanceof CommandLine.UnmatchedArgumentException unmatched) || unmatched.getUnmatched().isEmpty()) {
            return java.util.Optional.empty();
        }
        String first = unmatched.getUnmatched().get(0);
        CommandLine where = ex.getCommandLine();
        if (first.startsWith("-") && first.length() > 1) {
            return java.util.Optional.of("unknown option " + first);
        }
        if (where.getParent() == null) {
            return java.util.Optional.of("unknown command '" + first + "'; the commands are: "
                    + String.join(", ", where.getSubcommands().keySet()));
        }
        return java.util.Optional.empty();
    }

    static boolean isBadInput(Throwable e) {
        return e instanceof ModelFormatException || e instanceof TokenizerException || e instanceof UserInputException
                || e instanceof ContextFullException || e instanceof IllegalArgumentException;
    }

    /** The message in one line, with anything a terminal would act on (text from a file or a server) escaped. */
    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        return Printable.oneLine(m);
    }
}
