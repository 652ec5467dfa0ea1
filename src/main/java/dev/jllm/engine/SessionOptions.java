package dev.jllm.engine;

import dev.jllm.model.KvCache;

/**
 * How a session runs its tokens.
 *
 * @param contextSize   positions the session can hold (beyond the model's trained context, quality degrades)
 * @param prefill       whether a prompt goes through the model as one batch or one token at a time
 * @param useKvCache    false recomputes the whole sequence at every step (slow; a check that the cache is right)
 * @param cacheType     how keys and values are stored: FP16 (llama.cpp's default) or float32 (llama2.c's)
 */
public record SessionOptions(int contextSize, Prefill prefill, boolean useKvCache, KvCache.Type cacheType) {

    public SessionOptions(int contextSize, Prefill prefill, boolean useKvCache) {
        this(contextSize, prefill, useKvCache, KvCache.Type.F16);
    }

    public enum Prefill { BATCH, TOKEN }

    public SessionOptions withCacheType(KvCache.Type type) {
        return new SessionOptions(contextSize, prefill, useKvCache, type);
    }

    public static SessionOptions defaults(int contextSize) {
        return new SessionOptions(contextSize, Prefill.BATCH, true, KvCache.Type.F16);
    }
}
