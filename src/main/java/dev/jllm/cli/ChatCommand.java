package dev.jllm.cli;

import dev.jllm.chat.ChatSession;
import dev.jllm.chat.ChatTemplate;
import dev.jllm.chat.ChatTemplateException;
import dev.jllm.chat.Conversation;
import dev.jllm.chat.Message;
import dev.jllm.engine.ContextFullException;
import dev.jllm.engine.Model;
import dev.jllm.engine.Session;
import dev.jllm.engine.SessionOptions;
import dev.jllm.io.OutputFiles;
import dev.jllm.io.OutputPathException;
import dev.jllm.io.Printable;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "chat", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Chat with a model in the terminal: answers stream as they are generated, the conversation's KV"
                + " cache is kept between turns, Ctrl-C stops an answer, Ctrl-D (or /exit) quits.",
            "Commands: /reset, /system TEXT, /save FILE, /load FILE, /help, /exit.",
            "When standard input is not a terminal, each line is one message, even one that starts with / (commands"
                + " only with --commands); answers go to standard output, each followed by a newline, and notices to"
                + " standard error; if a message gets no answer (longer than the context, a template error), the exit"
                + " code is 2 at the end."})
final class ChatCommand extends IoCommand implements Runnable {

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    ChatTemplateOptions chatTemplateOptions;

    @Option(names = {"--system", "-sys", "--system-prompt"}, paramLabel = "TEXT", description = "System prompt.")
    String system;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "-1",
            description = "Tokens per answer at most (default ${DEFAULT-VALUE}: until the end of the turn).")
    int maxTokens;

    @Option(names = "--commands",
            description = "Run /commands also when standard input is not a terminal (by default each piped line is a"
                    + " message, so piped text cannot /save or /load files).")
    boolean pipedCommands;

    @Option(names = {"-cnv", "--conversation"}, hidden = true,
            description = "llama.cpp's conversation mode: what jllm chat always is (accepted, changes nothing).")
    boolean conversationMode;

    @Mixin
    SamplingOptions samplingOptions;

    @Option(names = {"-r", "--reverse-prompt"}, paramLabel = "TEXT",
            description = "End the answer where it contains TEXT (not shown), as llama.cpp's reverse prompt hands the"
                    + " turn back. Repeatable.")
    List<String> reversePrompts = new ArrayList<>();

    @Option(names = "--stream-delay", paramLabel = "MS", defaultValue = "0", hidden = true,
            description = "Wait this long after each streamed piece (for demonstrations and tests of Ctrl-C).")
    int streamDelayMillis;

    /** The model being chatted with (its warm-up is awaited before each answer). */
    private Model model;

    @Override
    public void run() {
        GenerateCommand.checkMaxTokens(maxTokens);
        try (Model model = modelOptions.load()) {
            model.startWarmUp();
            this.model = model;
            ChatTemplate template = chatTemplateOptions.resolve(model.file());
            int ctx = modelOptions.contextSize(model, err);
            Session session = model.newSession(new SessionOptions(ctx, SessionOptions.Prefill.BATCH, true,
                    modelOptions.cacheType()));
            dev.jllm.sampling.SamplerOptions sampling = samplingOptions.toSamplerOptions(model.config().vocabSize());
            if (modelOptions.verbose) {
                err.println("jllm: seed " + sampling.seed());
                err.println("jllm: samplers " + SamplingOptions.describe(sampling));
            }
            ChatSession chat = new ChatSession(model, session, template, sampling, maxTokens, reversePrompts);
            chat.setConversation(Conversation.empty().withSystem(system));
            // A template that cannot render a plain exchange fails now, in one line, rather than at every message.
            chat.render(chat.conversation().with(Message.user("Hello")));
            if (System.console() != null && System.console().isTerminal()) {
                interactive(chat, model);
            } else {
                lines(chat);
            }
        }
    }

    /**
     * Standard input that is not a terminal: one message per line (or command, with --commands). A message that gets no
     * answer is reported at once, and the run ends with exit code 2 after the remaining lines.
     */
    private void lines(ChatSession chat) {
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        int messages = 0;
        int unanswered = 0;
        try {
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                String text = line.strip();
                if (text.isEmpty()) {
                    continue;
                }
                if (pipedCommands && text.startsWith("/")) {
                    if (!command(chat, text, out)) {
                        break;
                    }
                    continue;
                }
                messages++;
                if (!answer(chat, text, out, () -> false)) {
                    unanswered++;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (unanswered > 0) {
            throw new UserInputException(unanswered + " of " + messages + " messages got no answer (see above)");
        }
    }

    /** A terminal: line editing by JLine, and Ctrl-C (SIGINT through JLine's terminal) stops the current answer. */
    private void interactive(ChatSession chat, Model model) {
        Terminal terminal;
        try {
            terminal = TerminalBuilder.builder().system(true).build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (terminal) {
            AtomicBoolean interrupted = new AtomicBoolean();
            terminal.handle(Terminal.Signal.INT, signal -> interrupted.set(true));
            LineReader reader = LineReaderBuilder.builder().terminal(terminal).appName("jllm").build();
            PrintStream screen = new PrintStream(terminal.output(), true, StandardCharsets.UTF_8);
            screen.printf("jllm chat: %s, template %s, context %d tokens. /help for commands; Ctrl-C stops an"
                    + " answer, Ctrl-D quits.%n", model.file().path().getFileName(), chat.template().name(),
                    chat.session().contextSize());
            while (true) {
                String line;
                try {
                    line = reader.readLine("> ");
                } catch (UserInterruptException e) {
                    continue; // Ctrl-C at the prompt clears the line
                } catch (EndOfFileException e) {
                    break;
                }
                interrupted.set(false);
                if (!handle(chat, line, screen, interrupted::get)) {
                    break;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One line of input; false when the user asked to quit. */
    private boolean handle(ChatSession chat, String line, PrintStream screen, BooleanSupplier interrupted) {
        String text = line.strip();
        if (text.isEmpty()) {
            return true;
        }
        if (text.startsWith("/")) {
            return command(chat, text, screen);
        }
        answer(chat, text, screen, interrupted);
        return true;
    }

    /** Answers one message; false (after a notice) when it got no answer. */
    private boolean answer(ChatSession chat, String text, PrintStream screen, BooleanSupplier interrupted) {
        String warmup = model.awaitWarmUp();
        if (warmup != null && modelOptions.verbose && warmup.contains("ended by")) {
            err.println("jllm: warm-up: " + warmup);
        }
        try {
            ChatSession.Reply reply = chat.respond(text, piece -> {
                screen.print(piece);
                screen.flush();
                pause();
            }, notice -> notice(screen, notice), interrupted);
            screen.println();
            switch (reply.stopReason()) {
                case INTERRUPTED -> notice(screen, "answer interrupted");
                case CONTEXT_FULL -> notice(screen, "the context of " + chat.session().contextSize()
                        + " tokens is full: the answer is cut; the oldest turns will be dropped");
                case MAX_TOKENS -> notice(screen, "answer cut at " + reply.generatedTokens() + " tokens (-n)");
                default -> { }
            }
        } catch (ChatTemplateException | ContextFullException e) {
            notice(screen, e.getMessage());
            return false;
        } catch (IllegalArgumentException e) {
            notice(screen, Main.oneLine(e));
            return false;
        }
        return true;
    }

    private void pause() {
        if (streamDelayMillis > 0) {
            try {
                Thread.sleep(streamDelayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private boolean command(ChatSession chat, String text, PrintStream screen) {
        int space = text.indexOf(' ');
        String name = space < 0 ? text : text.substring(0, space);
        String argument = space < 0 ? "" : text.substring(space + 1).strip();
        try {
            switch (name) {
                case "/exit", "/quit" -> {
                    return false;
                }
                case "/reset" -> {
                    chat.setConversation(Conversation.empty().withSystem(chat.conversation().system().orElse(null)));
                    notice(screen, "conversation cleared");
                }
                case "/system" -> {
                    chat.setConversation(chat.conversation().withSystem(argument));
                    notice(screen, argument.isEmpty() ? "system prompt removed" : "system prompt set");
                }
                case "/save" -> {
                    Path file = file(argument, "/save");
                    chat.conversation().write(file);
                    notice(screen, "saved " + chat.conversation().size() + " messages to " + file);
                }
                case "/load" -> {
                    Path file = file(argument, "/load");
                    Conversation loaded = Conversation.read(file);
                    chat.render(loaded); // fails here, not at the next message, if the template refuses it
                    chat.setConversation(loaded);
                    notice(screen, "loaded " + loaded.size() + " messages from " + file);
                }
                case "/help" -> (screen == out ? err : screen).println("""
                        /reset         forget the conversation (keeps the system prompt)
                        /system TEXT   set the system prompt (empty: remove it)
                        /save FILE     write the conversation as JSON
                        /load FILE     read a conversation written by /save
                        /help          this list
                        /exit          quit (or Ctrl-D); Ctrl-C stops an answer"""); // piped: stdout is answers only
                default -> notice(screen, "unknown command " + name + " (/help lists them)");
            }
        } catch (ChatTemplateException e) {
            notice(screen, e.getMessage());
        } catch (IllegalArgumentException e) {
            notice(screen, Main.oneLine(e));
        } catch (IOException e) {
            notice(screen, Printable.oneLine(e instanceof OutputPathException ? e.getMessage()
                    : "cannot write: " + OutputFiles.reason(e)));
        }
        return true;
    }

    private static Path file(String argument, String command) {
        if (argument.isEmpty()) {
            throw new IllegalArgumentException(command + " needs a file name");
        }
        return Path.of(argument);
    }

    /** Notices go to stderr when output is piped (so stdout holds only answers), to the screen in a terminal. */
    private void notice(PrintStream screen, String message) {
        PrintStream where = screen == out ? err : screen;
        where.println("jllm: " + message);
        where.flush();
    }
}
