package dev.jllm.cli;

import dev.jllm.hub.HubException;
import dev.jllm.hub.ModelRef;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "rm", mixinStandardHelpOptions = true,
        description = "Remove a model from the cache: REPO removes all of the repository, REPO:FILE (or REPO:QUANT)"
                + " that file, complete or partial, in every revision.")
final class RmCommand extends IoCommand implements Runnable {

    @Parameters(index = "0", paramLabel = "REPO[:FILE]")
    String ref;

    @Mixin
    CacheDirOption cacheDir;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        try {
            for (Path p : cacheDir.cache().remove(ModelRef.parse(ref))) {
                out.println("removed " + p);
            }
        } catch (HubException e) {
            throw new UserInputException(e.getMessage(), e);
        }
    }
}
