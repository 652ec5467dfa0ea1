package dev.jllm.tokenizer;

/**
 * What the fuzz targets do with a tokenizer a file describes: build it as the engine does and run it over text that
 * touches every kind of token (special-token texts, byte fallback, multi-byte characters, digits, whitespace runs).
 */
public final class FuzzedTokenizers {

    static final String TEXT = "Hello world! <s>[INST] hi [/INST]</s><|begin_of_text|><|eot_id|> 12345 \u00fcn\u00efc\u00f6d\u00e9"
            + " \ud83e\udd99 \u4f60\u597d\n\n\t  x\u00a0y \u2581a <0x0A> <unk>";

    private FuzzedTokenizers() {
    }

    /** Builds the tokenizer of {@code spec} (a TokenizerException if it cannot be built) and encodes and decodes. */
    public static void exercise(TokenizerSpec spec) {
        Tokenizer tokenizer = Tokenizer.from(spec);
        for (boolean parseSpecial : new boolean[] {false, true}) {
            int[] ids = tokenizer.encode(TEXT, tokenizer.addBosByDefault(), tokenizer.addEosByDefault(), parseSpecial);
            tokenizer.decode(ids);
            for (int id : ids) {
                tokenizer.piece(id);
                tokenizer.renderBytes(id);
                tokenizer.isEndOfGeneration(id);
            }
        }
        int[] every = new int[Math.min(tokenizer.vocabSize(), 300)];
        for (int i = 0; i < every.length; i++) {
            every[i] = tokenizer.vocabSize() - 1 - i;
        }
        tokenizer.decode(every);
    }
}
