package dev.jllm.tokenizer;

import java.util.List;
import java.util.Set;

/**
 * A tokenizer as a model file describes it, in GGUF's terms ({@code tokenizer.ggml.*}), whatever file it came from.
 *
 * @param model          {@code llama} (SentencePiece BPE) or {@code gpt2} (byte-level BPE)
 * @param pre            the pre-tokenizer name for byte-level BPE ({@code tokenizer.ggml.pre}), or null
 * @param tokens         the piece of every token id
 * @param scores         SentencePiece scores (merge priority), or null
 * @param tokenTypes     GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null
 * @param merges         BPE merges ("a b" per entry, in rank order), or null; byte-level BPE needs them, and a
 *                       SentencePiece vocabulary that has them (Hugging Face's tokenizer.json) merges by their rank
 *                       instead of by score
 * @param bosId          beginning-of-sequence id, or -1
 * @param eosId          end-of-sequence id, or -1
 * @param unkId          unknown-token id, or -1
 * @param padId          padding id, or -1
 * @param addBos         whether encoding adds BOS by default
 * @param addEos         whether encoding adds EOS by default
 * @param addSpacePrefix SentencePiece's add_dummy_prefix
 * @param chatTemplate   the file's chat template, or null
 * @param ignoreMerges   byte-level BPE: a pre-tokenized word that is itself a token becomes that token without merging
 *                       (Hugging Face's {@code ignore_merges}, tiktoken's rule; llama.cpp's for the Llama 3 family)
 * @param stripFlags     per token id, {@link #STRIP_LEFT} and/or {@link #STRIP_RIGHT}: when this special token is cut
 *                       out of a text, the whitespace before/after it goes too (llama.cpp's LSTRIP/RSTRIP attributes,
 *                       Hugging Face's {@code lstrip}/{@code rstrip}); null for none
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
        String chatTemplate,
        boolean ignoreMerges,
        int[] stripFlags) {

    public static final int TYPE_NORMAL = 1;
    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;
    public static final int TYPE_USER_DEFINED = 4;
    public static final int TYPE_UNUSED = 5;
    public static final int TYPE_BYTE = 6;

    public static final int STRIP_LEFT = 1;
    public static final int STRIP_RIGHT = 2;

    /** Pre-tokenizer names of llama.cpp's Llama 3 group, for which it ignores merges. */
    static final Set<String> LLAMA3_PRE = Set.of("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral");

    /** A spec without strip flags, ignoring merges as llama.cpp does for {@code pre} (the Llama 3 group). */
    public TokenizerSpec(String model, String pre, String[] tokens, float[] scores, int[] tokenTypes,
            List<String> merges, int bosId, int eosId, int unkId, int padId, boolean addBos, boolean addEos,
            boolean addSpacePrefix, String chatTemplate) {
        this(model, pre, tokens, scores, tokenTypes, merges, bosId, eosId, unkId, padId, addBos, addEos,
                addSpacePrefix, chatTemplate, pre != null && LLAMA3_PRE.contains(pre), null);
    }

    public int vocabSize() {
        return tokens.length;
    }

    /** This spec with other strip flags. */
    public TokenizerSpec withStripFlags(int[] flags) {
        return new TokenizerSpec(model, pre, tokens, scores, tokenTypes, merges, bosId, eosId, unkId, padId, addBos,
                addEos, addSpacePrefix, chatTemplate, ignoreMerges, flags);
    }
}
