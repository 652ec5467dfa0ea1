package dev.jllm.tokenizer;

import dev.jllm.FuzzContract;

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
            // a file may give <unk> a piece of thousands of bytes, and TEXT may encode to a hundred of them
            FuzzContract.outputWork("decoding", outputBytes(spec, ids), BYTES_PER_OUTPUT_BYTE, () -> {
                tokenizer.decode(ids);
                for (int id : ids) {
                    tokenizer.piece(id);
                    tokenizer.renderBytes(id);
                    tokenizer.isEndOfGeneration(id);
                }
            });
        }
        int[] every = new int[Math.min(tokenizer.vocabSize(), 300)];
        for (int i = 0; i < every.length; i++) {
            every[i] = tokenizer.vocabSize() - 1 - i;
        }
        FuzzContract.outputWork("decoding", outputBytes(spec, every), BYTES_PER_OUTPUT_BYTE,
                () -> tokenizer.decode(every));
    }

    /**
     * Heap per character of the pieces decoded: measured 10.2 where a tokenizer.bin's unknown piece of about 1,300
     * characters is decoded 151 times (the piece as bytes and as text, the growing text; decode, then each piece
     * again); about 5 times that is allowed.
     */
    private static final long BYTES_PER_OUTPUT_BYTE = 48;

    /** The text the ids stand for, at most: their tokens' lengths in characters. */
    private static long outputBytes(TokenizerSpec spec, int[] ids) {
        long sum = 0;
        for (int id : ids) {
            if (id >= 0 && id < spec.tokens().length) {
                sum += spec.tokens()[id].length();
            }
        }
        return sum;
    }
}
