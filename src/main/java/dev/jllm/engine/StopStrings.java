package dev.jllm.engine;

import java.util.List;

/**
 * Stop strings over streamed text: generated text goes in piece by piece (a stop string may span several pieces),
 * and out comes only text that can be shown for good. Text that might be the beginning of a stop string is held
 * back until it is known not to be; when a stop string appears, the text before it is released and the stop string
 * and everything after it are dropped. So a stop string is never shown, and no text is shown twice or taken back.
 * Generation stops at the first character that completes a stop string, whatever the pieces were.
 * Not thread-safe; one per generation.
 */
public final class StopStrings {

    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;
    private String matched;

    /** @param stops the stop strings, none empty (may be an empty list: then text passes straight through) */
    public StopStrings(List<String> stops) {
        for (String s : stops) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("a stop string must not be empty");
            }
        }
        this.stops = List.copyOf(stops);
    }

    /**
     * Adds generated text and returns what can be shown now (possibly empty). After a stop string has appeared, returns
     * the text before it once, then nothing.
     */
    public String accept(String piece) {
        if (stopped) {
            return "";
        }
        pending.append(piece);
        // Generation stops where a stop string is first complete (the earliest end); of stop strings ending there,
        // the longest (earliest start) is cut. So the result does not depend on how the text was cut into pieces.
        int at = -1;
        int end = Integer.MAX_VALUE;
        for (String stop : stops) {
            int i = pending.indexOf(stop);
            if (i >= 0 && (i + stop.length() < end || (i + stop.length() == end && i < at))) {
                at = i;
                end = i + stop.length();
                matched = stop;
            }
        }
        if (at >= 0) {
            stopped = true;
            String out = pending.substring(0, at);
            pending.setLength(0);
            return out;
        }
        int keep = heldBack();
        String out = pending.substring(0, pending.length() - keep);
        pending.delete(0, pending.length() - keep);
        return out;
    }

    /** The end of generation (no more text comes): releases what was held back, unless a stop string was found. */
    public String flush() {
        String out = pending.toString();
        pending.setLength(0);
        return out;
    }

    /** Whether a stop string has appeared. */
    public boolean stopped() {
        return stopped;
    }

    /** The stop string that appeared, or null. */
    public String matched() {
        return matched;
    }

    /** Characters currently held back because they may begin a stop string. */
    public int pendingLength() {
        return pending.length();
    }

    /** The length of the longest end of the pending text that is the beginning of some stop string. */
    private int heldBack() {
        int longest = 0;
        for (String stop : stops) {
            for (int n = Math.min(stop.length() - 1, pending.length()); n > longest; n--) {
                if (endsWithStartOf(stop, n)) {
                    longest = n;
                    break;
                }
            }
        }
        return longest;
    }

    private boolean endsWithStartOf(String stop, int n) {
        int from = pending.length() - n;
        for (int i = 0; i < n; i++) {
            if (pending.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
