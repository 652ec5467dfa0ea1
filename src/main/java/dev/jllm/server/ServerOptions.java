package dev.jllm.server;

import dev.jllm.model.KvCache;
import java.util.List;

/**
 * How {@code jllm serve} runs.
 *
 * @param host              address to bind (127.0.0.1 unless told otherwise)
 * @param port              TCP port; 0 picks a free one
 * @param parallel          slots: requests generated at once, each with its own region of the KV cache
 * @param contextSize       positions of the whole KV cache, split evenly among the slots (as llama-server's
 *                          {@code -c} with {@code -np})
 * @param batchSize         tokens per forward pass at most
 * @param prefillChunk      prompt tokens per forward pass at most while other slots are decoding
 * @param maxQueue          requests that may wait for a slot; beyond that, 503 with Retry-After
 * @param maxBodyBytes      largest request body accepted (413 beyond)
 * @param apiKeys           keys accepted as {@code Authorization: Bearer KEY}; empty: no key needed
 * @param alias             the model name the API reports
 * @param cacheType         KV cache storage
 * @param stepDelayMillis   a pause after each step (for demonstrations and tests of streaming; 0 normally)
 * @param shutdownGraceMillis how long running requests may go on after a shutdown begins
 */
public record ServerOptions(String host, int port, int parallel, int contextSize, int batchSize, int prefillChunk,
        int maxQueue, long maxBodyBytes, List<String> apiKeys, String alias, KvCache.Type cacheType,
        int stepDelayMillis, long shutdownGraceMillis) {

    public ServerOptions {
        apiKeys = List.copyOf(apiKeys);
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be between 0 and 65535, got " + port);
        }
        if (parallel < 1) {
            throw new IllegalArgumentException("--parallel must be at least 1, got " + parallel);
        }
        if (contextSize / parallel < 8) {
            throw new IllegalArgumentException("--ctx-size " + contextSize + " split among " + parallel
                    + " slots leaves " + contextSize / parallel + " positions per slot; at least 8 are needed");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
        }
        if (prefillChunk < 1) {
            throw new IllegalArgumentException("--prefill-chunk must be at least 1, got " + prefillChunk);
        }
        if (maxQueue < 0) {
            throw new IllegalArgumentException("--max-queue must be 0 or more, got " + maxQueue);
        }
        if (maxBodyBytes < 1024) {
            throw new IllegalArgumentException("--max-body must be at least 1024 bytes, got " + maxBodyBytes);
        }
        for (String key : apiKeys) {
            if (key.isBlank()) {
                throw new IllegalArgumentException("an API key must not be empty");
            }
        }
    }

    /** Positions of each slot's context. */
    public int slotContext() {
        return contextSize / parallel;
    }

    /** The defaults for a model file name, with {@code contextSize} positions in all. */
    public static ServerOptions defaults(int contextSize, String alias) {
        return new ServerOptions("127.0.0.1", 8080, 1, contextSize, 512, 64, 64, 8L << 20, List.of(), alias,
                KvCache.Type.F16, 0, 10_000);
    }

    public ServerOptions withPort(int newPort) {
        return new ServerOptions(host, newPort, parallel, contextSize, batchSize, prefillChunk, maxQueue, maxBodyBytes,
                apiKeys, alias, cacheType, stepDelayMillis, shutdownGraceMillis);
    }

    public ServerOptions withParallel(int slots, int newContextSize) {
        return new ServerOptions(host, port, slots, newContextSize, batchSize, prefillChunk, maxQueue, maxBodyBytes,
                apiKeys, alias, cacheType, stepDelayMillis, shutdownGraceMillis);
    }

    public ServerOptions withApiKeys(List<String> keys) {
        return new ServerOptions(host, port, parallel, contextSize, batchSize, prefillChunk, maxQueue, maxBodyBytes,
                keys, alias, cacheType, stepDelayMillis, shutdownGraceMillis);
    }

    public ServerOptions withLimits(int newMaxQueue, long newMaxBodyBytes) {
        return new ServerOptions(host, port, parallel, contextSize, batchSize, prefillChunk, newMaxQueue,
                newMaxBodyBytes, apiKeys, alias, cacheType, stepDelayMillis, shutdownGraceMillis);
    }

    public ServerOptions withStepDelay(int millis) {
        return new ServerOptions(host, port, parallel, contextSize, batchSize, prefillChunk, maxQueue, maxBodyBytes,
                apiKeys, alias, cacheType, millis, shutdownGraceMillis);
    }

    public ServerOptions withBatching(int newBatchSize, int newPrefillChunk) {
        return new ServerOptions(host, port, parallel, contextSize, newBatchSize, newPrefillChunk, maxQueue,
                maxBodyBytes, apiKeys, alias, cacheType, stepDelayMillis, shutdownGraceMillis);
    }
}
