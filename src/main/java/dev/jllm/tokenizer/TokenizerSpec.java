package dev.jllm.tokenizer;

import java.util.List;

/**
 * A tokenizer as a model file describes it, in GGUF's terms ({@code tokenizer.ggml.*}), whatever file it came from.
 *
 * @param model          {@code llama} (SentencePiece BPE) or {@code gpt2} (byte-level BPE)
 * @param pre            the pre-tokenizer name for byte-level BPE ({@code tokenizer.ggml.pre}), or null
 * @param tokens         the piece of every token id
 * @param scores         SentencePiece scores (merge priority), or null
 * @param tokenTypes     GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null
 * @param merges         byte-level BPE merges ("a b" per entry, in rank order), or null
 * @param bosId          beginning-of-sequence id, or -1
 * @param eosId          end-of-sequence id, or -1
 * @param unkId          unknown-token id, or -1
 * @param padId          padding id, or -1
 * @param addBos         whether encoding adds BOS by default
 * @param addEos         whether encoding adds EOS by default
 * @param addSpacePrefix SentencePiece's add_dummy_prefix
 * @param chatTemplate   the file's chat template, or null
 */
public record TokenizerSpec(
        String model,
        String pre,
        String[] tokens,
        float[] scores,
        int[] tokenTypes,
        List<String> merges,
        int bosId,
        int eosId,
        int unkId,
        int padId,
        boolean addBos,
        boolean addEos,
        boolean addSpacePrefix,
        String chatTemplate) {

    public static final int TYPE_NORMAL = 1;
    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;
    public static final int TYPE_USER_DEFINED = 4;
    public static final int TYPE_UNUSED = 5;
    public static final int TYPE_BYTE = 6;

    public int vocabSize() {
        return tokens.length;
    }
}
