package dev.jllm.cli;

import dev.jllm.hub.ModelCache;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the models in the cache: repository and file, size, revision.")
final class ListCommand extends IoCommand implements Runnable {

    @Mixin
    CacheDirOption cacheDir;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        ModelCache cache = cacheDir.cache();
        List<ModelCache.Entry> entries = cache.list();
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
            rows.add(new String[] {e.repo() + ":" + e.file() + (e.partial() ? " (partial)" : ""),
                CliProgress.size(e.size()), revision});
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
