package dev.jllm.hub;

import java.nio.file.Path;
import java.time.Duration;

/** Hears how a pull goes: for progress bars and log lines. Called on the pulling thread. */
public interface TransferListener {

    TransferListener NONE = new TransferListener() {
    };

    /** A file is found in the cache: no transfer. */
    default void cached(String file, Path path) {
    }

    /** A transfer begins; {@code totalBytes} is -1 when unknown, {@code resumedFrom} the bytes already on disk. */
    default void started(String file, long totalBytes, long resumedFrom) {
    }

    /** {@code bytes} of the file are on disk. */
    default void progress(String file, long bytes) {
    }

    /** An attempt failed; the next one starts after {@code wait}. */
    default void retrying(String what, String reason, int nextAttempt, int maxAttempts, Duration wait) {
    }

    /**
     * A file is complete and in the cache; {@code checksum} names what it was verified against ("SHA-256" or "git blob
     * id"), or is null when the Hub gave only its size.
     */
    default void finished(String file, long bytes, String checksum, Path path) {
    }
}
