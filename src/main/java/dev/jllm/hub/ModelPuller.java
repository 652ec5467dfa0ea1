package dev.jllm.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jllm.io.OutputFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Gets a model named by a {@link ModelRef}: from the cache when it is there (no network at all), else from the Hub
 * into the cache. The entry point of {@code jllm pull} and of {@code -hf}.
 */
public final class ModelPuller {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final ModelCache cache;
    private final HubClient.Options options;
    private final TransferListener listener;

    public ModelPuller(ModelCache cache, HubClient.Options options, TransferListener listener) {
        this.cache = cache;
        this.options = options;
        this.listener = listener;
    }

    /**
     * The model {@code ref} names at {@code revision} (a branch, tag or commit; "main" by default), downloaded if it
     * is not cached. With {@code offline}, the network is never used and a model missing from the cache is an error.
     */
    public PulledModel pull(ModelRef ref, String revision, boolean offline) {
        RepoPaths.checkRevision(revision);
        PulledModel cached = fromCache(ref, revision, offline);
        if (cached != null) {
            return cached;
        }
        if (offline) {
            throw new HubException(ref + " (revision " + revision + ") is not in the cache (" + cache.root()
                    + ") and offline mode forbids the network; pull it while online, or drop --offline");
        }
        try (HubClient client = new HubClient(options)) {
            return download(client, ref, revision);
        }
    }

    /**
     * The cached model, or null when it is not (completely) in the cache. The reference is resolved among the files the
     * repository had when the snapshot was pulled (its recorded listing), as the Hub's listing would resolve it, so a
     * reference means the same file with a full, a partial or an empty cache; only a snapshot pulled without a
     * recorded listing falls back to the files in the cache.
     */
    private PulledModel fromCache(ModelRef ref, String revision, boolean offline) {
        String key = cache.localKey(ref.repo(), revision);
        List<String> cached = cache.snapshotFiles(ref.repo(), key);
        if (cached.isEmpty()) {
            return null;
        }
        List<String> files = cache.readListing(ref.repo(), key).orElse(cached);
        Selection selection;
        try {
            selection = Selection.choose(ref.repo(), ref.file(), files);
        } catch (HubException e) {
            if (offline) {
                throw new HubException(e.getMessage() + " (in the cache at " + cache.root() + ", offline)");
            }
            return null; // the Hub may have what the cache lacks, and says the same when it does not
        }
        switch (selection) {
            case Selection.SingleFile single -> {
                if (!cached.contains(single.name())) {
                    return null;
                }
                Path p = cache.snapshotFile(ref.repo(), key, single.name());
                listener.cached(single.name(), p);
                return new PulledModel(p, List.of(p), key, true);
            }
            case Selection.Directory dir -> {
                if (!cached.containsAll(dir.files())) {
                    return null;
                }
                List<String> all = new ArrayList<>(dir.files());
                if (dir.index() != null) {
                    Set<String> shards = shards(cache.snapshotFile(ref.repo(), key, dir.index()), ref.repo());
                    if (!cached.containsAll(shards)) {
                        return null;
                    }
                    all.addAll(shards);
                }
                List<Path> paths = all.stream().map(f -> cache.snapshotFile(ref.repo(), key, f)).toList();
                paths.forEach(p -> listener.cached(cache.snapshotDir(ref.repo(), key).relativize(p).toString(), p));
                return new PulledModel(cache.snapshotDir(ref.repo(), key), paths, key, true);
            }
        }
    }

    private PulledModel download(HubClient client, ModelRef ref, String revision) {
        String repo = ref.repo();
        HubClient.Listing listing;
        try {
            listing = client.listing(repo, revision, listener);
        } catch (HubException e) {
            if (e.getCause() instanceof IOException) { // the network failed, as opposed to the Hub saying no
                throw new HubException(e.getMessage() + "; " + ref + " is not in the cache (" + cache.root()
                        + "): connect to the network, or give a local file with -m", e);
            }
            throw e;
        }
        String commit = listing.commit() != null ? listing.commit() : RepoPaths.isCommit(revision) ? revision : null;
        String key = commit != null ? commit : ModelCache.revisionKey(revision);
        String urlRevision = commit != null ? commit : revision;
        Selection selection = Selection.choose(repo, ref.file(), listing.files());
        PulledModel pulled = switch (selection) {
            case Selection.SingleFile single -> {
                if (Selection.isGguf(single.name())) {
                    QuantLabels.checkRunnable(repo, single.name());
                }
                Path p = Download.fetch(client, cache, listener, repo, key, urlRevision, single.name());
                yield new PulledModel(p, List.of(p), key, false);
            }
            case Selection.Directory dir -> {
                List<Path> paths = new ArrayList<>();
                for (String f : dir.files()) {
                    paths.add(Download.fetch(client, cache, listener, repo, key, urlRevision, f));
                }
                if (dir.index() != null) {
                    Set<String> shards = shards(paths.getLast(), repo);
                    List<String> missing = shards.stream().filter(s -> !listing.files().contains(s)).toList();
                    if (!missing.isEmpty()) {
                        throw new HubException(repo + ": " + dir.index() + " names " + String.join(", ", missing)
                                + " but the repository has no such file");
                    }
                    for (String shard : shards) {
                        paths.add(Download.fetch(client, cache, listener, repo, key, urlRevision, shard));
                    }
                }
                yield new PulledModel(cache.snapshotDir(repo, key), List.copyOf(paths), key, false);
            }
        };
        try {
            cache.writeListing(repo, key, listing.files());
            if (commit != null && !revision.equals(commit)) {
                cache.writeRef(repo, revision, commit);
            }
        } catch (IOException e) {
            throw new HubException(repo + ": cannot write to the cache (" + OutputFiles.reason(e) + ")", e);
        }
        return pulled;
    }

    /** The shard files a {@code model.safetensors.index.json} names in its {@code weight_map}, sorted. */
    static Set<String> shards(Path index, String repo) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(index));
        } catch (IOException e) {
            throw new HubException(index + ": not a readable safetensors index (" + e.getMessage() + ")");
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw new HubException(index + ": a safetensors index without a 'weight_map'");
        }
        Set<String> shards = new TreeSet<>();
        for (JsonNode v : (Iterable<JsonNode>) map::elements) {
            if (!v.isTextual()) {
                throw new HubException(index + ": a weight_map value is not a file name");
            }
            shards.add(RepoPaths.check(v.asText(), repo + "'s index names '" + v.asText() + "'"));
        }
        return shards;
    }
}
