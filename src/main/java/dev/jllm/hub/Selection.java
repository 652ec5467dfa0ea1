package dev.jllm.hub;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which files of a repository a reference means: one file (a GGUF picked by name or quantization, or any file named
 * exactly), or a Hugging Face model directory (config, tokenizer files and safetensors weights).
 */
sealed interface Selection {

    /** The files a Hugging Face model directory is made of, besides its weights, when the repository has them. */
    List<String> DIRECTORY_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json");
    String SAFETENSORS_INDEX = "model.safetensors.index.json";
    String SAFETENSORS = "model.safetensors";

    /** A reference that matches several files: the same one-line message wherever the list of files came from. */
    final class AmbiguousException extends HubException {
        AmbiguousException(String message) {
            super(message);
        }
    }

    /** One file of the repository. */
    record SingleFile(String name) implements Selection {
    }

    /**
     * A model directory: {@code files} in download order, the weights last (the shards, named by {@code index} when
     * there is one, are added once the index is read), so a snapshot whose weights are all present is complete.
     */
    record Directory(List<String> files, String index) implements Selection {
    }

    /**
     * Chooses among {@code files} (paths in the repository, or in a cached snapshot). With no selector: the one GGUF
     * file, or the model directory when there is no GGUF file. Throws a one-line {@link HubException} when nothing or
     * more than one file matches.
     */
    static Selection choose(String repo, String selector, Collection<String> files) {
        List<String> ggufs = files.stream().filter(Selection::isGguf).sorted().toList();
        if (selector == null) {
            if (ggufs.size() == 1) {
                return new SingleFile(ggufs.getFirst());
            }
            if (ggufs.size() > 1) {
                throw new AmbiguousException(repo + " has " + ggufs.size() + " GGUF files; name one as " + repo
                        + ":FILE or " + repo + ":QUANT (e.g. Q4_K_M): " + String.join(", ", ggufs));
            }
            Directory directory = directory(files);
            if (directory == null) {
                throw new HubException(repo + " has neither a GGUF file nor a Hugging Face model (config.json with"
                        + " safetensors weights)" + listing(files));
            }
            return directory;
        }
        if (files.contains(selector)) {
            return new SingleFile(selector);
        }
        String wanted = selector.toLowerCase(Locale.ROOT);
        List<String> byBaseName = ggufs.stream().filter(f -> baseName(f).toLowerCase(Locale.ROOT).equals(wanted)).toList();
        if (byBaseName.size() == 1) {
            return new SingleFile(byBaseName.getFirst());
        }
        List<String> containing = ggufs.stream().filter(f -> baseName(f).toLowerCase(Locale.ROOT).contains(wanted)).toList();
        if (containing.size() > 1) {
            // "Q4_K" is part of both Q4_K_M and Q4_K_S; "Q4_K_M" standing alone between separators is one of them.
            List<String> standingAlone = containing.stream().filter(f -> standsAlone(baseName(f).toLowerCase(Locale.ROOT), wanted)).toList();
            if (standingAlone.size() == 1) {
                return new SingleFile(standingAlone.getFirst());
            }
            throw new AmbiguousException(repo + ":" + selector + " matches " + containing.size()
                    + " GGUF files; name one: " + String.join(", ", containing));
        }
        if (containing.size() == 1) {
            return new SingleFile(containing.getFirst());
        }
        throw new HubException(repo + " has no file matching '" + selector + "'"
                + (ggufs.isEmpty() ? listing(files) : "; its GGUF files: " + String.join(", ", ggufs)));
    }

    /** The model directory the files hold, or null when there is no config.json with safetensors weights. */
    static Directory directory(Collection<String> files) {
        if (!files.contains("config.json")) {
            return null;
        }
        List<String> ordered = new ArrayList<>();
        for (String f : DIRECTORY_FILES) {
            if (files.contains(f)) {
                ordered.add(f);
            }
        }
        if (files.contains(SAFETENSORS_INDEX)) {
            ordered.add(SAFETENSORS_INDEX);
            return new Directory(List.copyOf(ordered), SAFETENSORS_INDEX);
        }
        if (files.contains(SAFETENSORS)) {
            ordered.add(SAFETENSORS);
            return new Directory(List.copyOf(ordered), null);
        }
        return null;
    }

    static boolean isGguf(String path) {
        return path.toLowerCase(Locale.ROOT).endsWith(".gguf");
    }

    static String baseName(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    private static boolean standsAlone(String name, String part) {
        for (int at = name.indexOf(part); at >= 0; at = name.indexOf(part, at + 1)) {
            boolean before = at == 0 || !isWordChar(name.charAt(at - 1));
            int end = at + part.length();
            boolean after = end == name.length() || !isWordChar(name.charAt(end));
            if (before && after) {
                return true;
            }
        }
        return false;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    private static String listing(Collection<String> files) {
        Set<String> sorted = new TreeSet<>(files);
        if (sorted.isEmpty()) {
            return " (it has no files)";
        }
        List<String> shown = sorted.stream().limit(12).toList();
        return "; its files: " + String.join(", ", shown) + (sorted.size() > shown.size() ? ", ..." : "");
    }
}
