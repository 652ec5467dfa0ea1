package dev.jllm.hub;

import dev.jllm.io.Printable;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/** File paths inside a repository and revision names: checked before they touch the cache or a URL. */
final class RepoPaths {

    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    private RepoPaths() {
    }

    /**
     * Accepts a relative, '/'-separated path with no empty, '.' or '..' segment, no backslash and nothing non-printable
     * (control or format characters, see {@link Printable}): a server's listing must not be able to write outside the
     * cache, nor to act on the terminal that shows its names.
     */
    static String check(String path, String what) {
        boolean ok = !path.isEmpty() && path.length() <= 1024 && !path.startsWith("/") && !path.contains("\\");
        if (ok) {
            for (String segment : path.split("/", -1)) {
                if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                    ok = false;
                }
            }
            ok = ok && Printable.escape(path).equals(path); // nothing a terminal would act on when the name is shown
        }
        if (!ok) {
            throw new HubException(what + ": not a file path inside a repository");
        }
        return path;
    }

    static String checkRevision(String revision) {
        if (revision == null || revision.length() > 256 || !REVISION.matcher(revision).matches()
                || ("/" + revision + "/").contains("/../") || ("/" + revision + "/").contains("/./")) {
            throw new HubException("--revision '" + revision + "': expected a branch, tag or commit (letters, digits,"
                    + " '.', '_', '-', '/')");
        }
        return revision;
    }

    static boolean isCommit(String revision) {
        return COMMIT.matcher(revision).matches();
    }

    /** One URL path segment, percent-encoded (a '/' inside a revision becomes %2F, as the Hub expects). */
    static String encodeSegment(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** A repository path, each segment percent-encoded, the slashes kept. */
    static String encodePath(String path) {
        StringBuilder b = new StringBuilder();
        for (String segment : path.split("/", -1)) {
            if (!b.isEmpty()) {
                b.append('/');
            }
            b.append(encodeSegment(segment));
        }
        return b.toString();
    }
}
