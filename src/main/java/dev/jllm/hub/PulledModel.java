package dev.jllm.hub;

import java.nio.file.Path;
import java.util.List;

/**
 * A model in the cache, ready to load.
 *
 * @param path       the file to load (a GGUF file), or the snapshot folder of a Hugging Face model directory
 * @param files      every file that makes up the model
 * @param commit     the commit the files come from, or the revision's name when the Hub gave no commit
 * @param fromCache  true when no network was used
 */
public record PulledModel(Path path, List<Path> files, String commit, boolean fromCache) {
}
