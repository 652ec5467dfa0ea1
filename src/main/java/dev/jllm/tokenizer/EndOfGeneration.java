package dev.jllm.tokenizer;

import java.util.Set;

/** Which tokens end a generation: EOS, and the end-of-turn tokens that llama.cpp also treats so. */
final class EndOfGeneration {

    /** Texts of control or user-defined tokens that end a turn in the chat formats llama.cpp knows. */
    private static final Set<String> END_OF_TURN_TEXTS = Set.of(
            "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
            "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>");

    private EndOfGeneration() {
    }

    /** A flag per token id: EOS, and every control or user-defined token whose text ends a turn. */
    static boolean[] flags(TokenizerSpec spec) {
        String[] tokens = spec.tokens();
        int[] types = spec.tokenTypes();
        boolean[] flags = new boolean[tokens.length];
        if (spec.eosId() >= 0 && spec.eosId() < tokens.length) {
            flags[spec.eosId()] = true;
        }
        if (types != null) {
            for (int id = 0; id < tokens.length; id++) {
                boolean special = types[id] == TokenizerSpec.TYPE_CONTROL || types[id] == TokenizerSpec.TYPE_USER_DEFINED;
                if (special && END_OF_TURN_TEXTS.contains(tokens[id])) {
                    flags[id] = true;
                }
            }
        }
        return flags;
    }
}
