package dev.jllm.hub;

import java.util.regex.Pattern;

/**
 * What the user names on the command line: {@code OWNER/NAME} or {@code OWNER/NAME:FILE}, where FILE is a file of the
 * repository ({@code model.Q4_K_M.gguf}, {@code config.json}) or a part of a GGUF file name such as a quantization
 * ({@code Q4_K_M}).
 *
 * @param repo the repository id on the Hub
 * @param file the file or quantization asked for, or null to let the repository's contents decide
 */
public record ModelRef(String repo, String file) {

    // The Hub's rules for ids: letters, digits, '.', '_', '-'; no "--" or ".." (so the cache folder name is reversible).
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?");

    public ModelRef {
        if (!validRepo(repo)) {
            throw new HubException("'" + repo + "' is not a Hugging Face repository id: expected OWNER/NAME"
                    + " (letters, digits, '.', '_', '-'), e.g. TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF");
        }
        if (file != null) {
            RepoPaths.check(file, "'" + repo + ":" + file + "'");
        }
    }

    /** Parses {@code REPO} or {@code REPO:FILE}. */
    public static ModelRef parse(String text) {
        if (text == null || text.isBlank()) {
            throw new HubException("no model named: expected OWNER/NAME or OWNER/NAME:FILE");
        }
        int colon = text.indexOf(':');
        if (colon < 0) {
            return new ModelRef(text, null);
        }
        String file = text.substring(colon + 1);
        if (file.isEmpty()) {
            throw new HubException("'" + text + "': nothing after ':'; expected OWNER/NAME:FILE or OWNER/NAME:QUANT");
        }
        return new ModelRef(text.substring(0, colon), file);
    }

    static boolean validRepo(String repo) {
        if (repo == null || repo.contains("--") || repo.contains("..")) {
            return false;
        }
        String[] parts = repo.split("/", -1);
        if (parts.length > 2) {
            return false;
        }
        for (String part : parts) {
            if (part.length() > 96 || !NAME.matcher(part).matches()) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        return file == null ? repo : repo + ":" + file;
    }
}
