package dev.jllm.cli;

import dev.jllm.hub.HubException;
import dev.jllm.hub.ModelCache;
import dev.jllm.hub.ModelRef;
import dev.jllm.io.Printable;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the models in the cache (or one repository, or one file of it): repository and file, size,"
                + " revision.")
final class ListCommand extends IoCommand implements Runnable {

    @Parameters(index = "0", arity = "0..1", paramLabel = "REPO[:FILE]",
            description = "Only this repository, or the file of it that REPO:FILE (or REPO:QUANT) names, chosen as pull"
                    + " and rm choose.")
    String ref;

    @Mixin
    CacheDirOption cacheDir;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        ModelCache cache = cacheDir.cache();
        List<ModelCache.Entry> entries;
        try {
            entries = cache.list();
            if (ref != null) {
                ModelRef only = ModelRef.parse(ref);
                String file = only.file() == null ? null : cache.resolve(only);
                entries = entries.stream().filter(e -> e.repo().equals(only.repo())
                        && (file == null || e.file().equals(file))).toList();
                if (entries.isEmpty()) {
                    throw new HubException(only.repo() + " is not in the cache (" + cache.root() + ")");
                }
            }
        } catch (HubException e) {
            throw new UserInputException(e.getMessage(), e);
        }
        if (entries.isEmpty()) {
            out.println("no models in the cache (" + cache.root() + "); get one with: jllm pull REPO[:FILE]");
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"MODEL", "SIZE", "REVISION"});
        long total = 0;
        for (ModelCache.Entry e : entries) {
            String commit = e.snapshot().length() == 40 ? e.snapshot().substring(0, 10) : e.snapshot();
            String revision = e.refs().isEmpty() ? commit : String.join(", ", e.refs()) + " (" + commit + ")";
            // names read from the cache folder, which another user may share: shown escaped
            rows.add(new String[] {Printable.escape(e.repo() + ":" + e.file()) + (e.partial() ? " (partial)" : ""),
                CliProgress.size(e.size()), Printable.escape(revision)});
            total += e.size();
        }
        int w0 = rows.stream().mapToInt(r -> r[0].length()).max().orElse(0);
        int w1 = rows.stream().mapToInt(r -> r[1].length()).max().orElse(0);
        for (String[] r : rows) {
            out.printf("%-" + w0 + "s  %" + w1 + "s  %s%n", r[0], r[1], r[2]);
        }
        out.printf("%d file%s, %s in %s%n", entries.size(), entries.size() == 1 ? "" : "s", CliProgress.size(total),
                cache.root());
    }
}
