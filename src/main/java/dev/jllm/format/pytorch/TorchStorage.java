package dev.jllm.format.pytorch;

import java.lang.foreign.MemorySegment;

/**
 * One storage of a checkpoint: the zip entry {@code data/KEY}, mapped in place. Every tensor that names the key gets
 * this very object, so a shared storage (a tied output that is the embedding) is seen as one.
 *
 * @param elements the element count the pickle announces (its bytes fit in the entry)
 * @param data     the entry's bytes, a slice of the mapped file
 */
public record TorchStorage(String key, TorchStorageType type, long elements, MemorySegment data) {
}
