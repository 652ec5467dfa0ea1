package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Behaviour of the SentencePiece BPE tokenizer beyond the golden vectors. */
class SentencePieceTokenizerTest {

    private static final int HELLO = 15043; // "▁Hello"
    private static final int WORLD = 2787;  // "▁World"
    private static final int SPACE = 29871; // "▁"

    private static Tokenizer llama2;

    @BeforeAll
    static void load() {
        llama2 = Tokenizer.from(Llama2cTokenizerLoader.load(SharedData.file("vocab/llama2-tokenizer.bin"), 32000));
    }

    // ---------------------------------------------------------------- special tokens, as llama.cpp partitions them

    // Control and unknown tokens written in text, with and without parsing them, the space prefix of the text after
    // them and llama.cpp's double space: llama-tokenize's ids in SpecialTokensReferenceTest (the Llama 2 texts, read
    // through the GGUF, tokenizer.model and this tokenizer.bin).

    @Test
    void userDefinedTokensAreAlwaysMatchedLongestFirst() {
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder()
                .normal("▁a", -1).normal("▁b", -1)
                .userDefined("<t>").userDefined("<t><t>")
                .build());
        int a = tiny.encode("a", false, false)[0];
        int b = tiny.encode("b", false, false)[0];
        int t = TinyVocab.idOf(tiny, "<t>");
        int tt = TinyVocab.idOf(tiny, "<t><t>");
        assertArrayEquals(new int[] {a, t, b}, tiny.encode("a<t>b", false, false));
        assertArrayEquals(new int[] {a, tt, t, b}, tiny.encode("a<t><t><t>b", false, false));
        assertArrayEquals(new int[] {tt, tt}, tiny.encode("<t><t><t><t>", false, true));
        // A user-defined token decodes to its own text.
        assertEquals("a<t>", tiny.decode(new int[] {a, t}));
    }

    // ---------------------------------------------------------------- the merge order

    @Test
    void highestScoringPairMergesFirst() {
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().noSpacePrefix()
                .normal("a", -5).normal("b", -5).normal("c", -5).normal("ab", -2).normal("bc", -1).build());
        assertPieces(tiny, "abc", "a", "bc");
    }

    @Test
    void equalScoresMergeLeftmostFirst() {
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().noSpacePrefix()
                .normal("a", -5).normal("aa", -1).build());
        assertPieces(tiny, "aaa", "aa", "a");
        assertPieces(tiny, "aaaaa", "aa", "aa", "a");
    }

    @Test
    void negativeZeroAndZeroScoresTieAsInLlamaCpp() {
        // C++ compares scores with '<': -0.0 and 0.0 are equal, so the leftmost pair wins.
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().noSpacePrefix()
                .normal("a", -5).normal("b", -5).normal("c", -5).normal("ab", -0.0f).normal("bc", 0.0f).build());
        assertPieces(tiny, "abc", "ab", "c");
    }

    @Test
    void charactersOutsideTheVocabularyBecomeByteTokens() {
        // "é" is not a Llama 2 token by itself here: check through a tiny vocabulary with byte tokens.
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().normal("▁", -1).build());
        assertPieces(tiny, "é", "▁", "<0xC3>", "<0xA9>");
        assertEquals("é", tiny.decode(tiny.encode("é", true, false)));
    }

    @Test
    void withoutByteTokensUnknownCharactersBecomeUnk() {
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().withoutByteTokens().normal("▁", -1).build());
        assertPieces(tiny, "é", "▁", "<unk>", "<unk>");
    }

    @Test
    void emptyTextIsNoTokensOrJustBos() {
        assertArrayEquals(new int[0], llama2.encode("", false, false));
        assertArrayEquals(new int[] {1}, llama2.encode("", true, false));
        assertArrayEquals(new int[] {1, 2}, llama2.encode("", true, true, false));
    }

    @Test
    void eosOnlyWhenAskedFor() {
        assertArrayEquals(new int[] {1, HELLO}, llama2.encode("Hello", true, false));
        assertArrayEquals(new int[] {1, HELLO, 2}, llama2.encode("Hello", true, true, false));
        assertTrue(llama2.addBosByDefault());
        assertFalse(llama2.addEosByDefault());
    }

    @Test
    void bosIsRequiredToAddIt() {
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().withoutBos().normal("▁", -1).build());
        TokenizerException e = assertThrows(TokenizerException.class, () -> tiny.encode("x", true, false));
        assertTrue(e.getMessage().contains("BOS"), e.getMessage());
    }

    @Test
    void longTextEncodesWithoutTroubleAndRoundTrips() {
        StringBuilder text = new StringBuilder();
        String[] words = {"Once", "upon", "a", "time", "there", "was", "a", "little", "girl", "named", "Lily", "🦙"};
        for (int i = 0; text.length() < 200_000; i++) {
            text.append(words[i % words.length]).append(i % 7 == 0 ? ".\n" : " ");
        }
        int[] ids = llama2.encode(text.toString(), true, false);
        assertTrue(ids.length > 40_000, "ids: " + ids.length);
        assertEquals(text.toString(), llama2.decode(ids));
        // One 200 KB "word": no spaces to break on.
        String word = "ab".repeat(100_000);
        assertEquals(word, llama2.decode(llama2.encode(word, false, false)));
    }

    // ---------------------------------------------------------------- decoding

    @Test
    void leadingSpaceIsDroppedAtTheStartAndAfterBos() {
        assertEquals("Hello", new String(llama2.decodeBytes(HELLO, Tokenizer.NO_TOKEN), StandardCharsets.UTF_8));
        assertEquals("Hello", new String(llama2.decodeBytes(HELLO, 1), StandardCharsets.UTF_8));
        assertEquals(" Hello", new String(llama2.decodeBytes(HELLO, WORLD), StandardCharsets.UTF_8));
        assertEquals("Hello World", llama2.decode(new int[] {1, HELLO, WORLD}));
        assertEquals("Hello World", llama2.decode(new int[] {HELLO, WORLD}));
        // Only the one prefixed space goes: " Hello" is "▁" "▁Hello".
        assertEquals(" Hello", llama2.decode(new int[] {1, SPACE, HELLO}));
    }

    @Test
    void controlTokensDecodeToNothingAndBytesToTheirByte() {
        assertEquals(0, llama2.decodeBytes(1, WORLD).length);
        assertEquals(0, llama2.decodeBytes(2, WORLD).length);
        assertEquals(0, llama2.decodeBytes(0, WORLD).length);
        assertArrayEquals(new byte[] {'\n'}, llama2.decodeBytes(13, WORLD));
        assertEquals("Hello", llama2.decode(new int[] {1, HELLO, 2}));
    }

    @Test
    void piecesAndSpecialIds() {
        assertEquals(32000, llama2.vocabSize());
        assertEquals(1, llama2.bosId());
        assertEquals(2, llama2.eosId());
        assertEquals("▁Hello", llama2.piece(HELLO));
        assertEquals("<0x0A>", llama2.piece(13));
        assertEquals("<s>", llama2.piece(1));
        assertTrue(llama2.isEndOfGeneration(2));
        assertFalse(llama2.isEndOfGeneration(1));
        assertFalse(llama2.isEndOfGeneration(HELLO));
        assertThrows(TokenizerException.class, () -> llama2.piece(32000));
    }

    @Test
    void endOfTurnTokensEndGeneration() {
        Tokenizer tiny = Tokenizer.from(TinyVocab.builder().control("<|eot_id|>").normal("<|im_end|>", -1).build());
        assertTrue(tiny.isEndOfGeneration(TinyVocab.idOf(tiny, "<|eot_id|>")));
        assertTrue(tiny.isEndOfGeneration(2));
        // A normal token with that text is just text.
        assertFalse(tiny.isEndOfGeneration(TinyVocab.idOf(tiny, "<|im_end|>")));
    }

    // ---------------------------------------------------------------- construction

    @Test
    void unknownModelsAndPreTokenizersAreRejected() {
        TokenizerSpec llama = TinyVocab.builder().build();
        TokenizerSpec gpt2 = new TokenizerSpec("gpt2", "default", llama.tokens(), null, llama.tokenTypes(),
                List.of(), 1, 2, 0, -1, false, false, false, null);
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.from(gpt2));
        assertTrue(e.getMessage().contains("tokenizer.ggml.pre 'default'"), e.getMessage());
        TokenizerSpec other = new TokenizerSpec("bert", null, llama.tokens(), null, null, null, -1, -1, -1, -1,
                false, false, false, null);
        e = assertThrows(TokenizerException.class, () -> Tokenizer.from(other));
        assertTrue(e.getMessage().contains("'bert'"), e.getMessage());
    }

    @Test
    void inconsistentSpecsAreRejected() {
        TokenizerSpec good = TinyVocab.builder().build();
        TokenizerSpec fewScores = new TokenizerSpec("llama", null, good.tokens(), new float[3], good.tokenTypes(),
                null, 1, 2, 0, -1, true, false, true, null);
        assertThrows(TokenizerException.class, () -> Tokenizer.from(fewScores));
        TokenizerSpec badBos = new TokenizerSpec("llama", null, good.tokens(), good.scores(), good.tokenTypes(),
                null, 100_000, 2, 0, -1, true, false, true, null);
        assertThrows(TokenizerException.class, () -> Tokenizer.from(badBos));
    }

    private static void assertPieces(Tokenizer tokenizer, String text, String... expected) {
        List<String> pieces = new ArrayList<>();
        for (int id : tokenizer.encode(text, false, false)) {
            pieces.add(tokenizer.piece(id));
        }
        assertEquals(List.of(expected), pieces);
    }

    /** Builds small SentencePiece vocabularies: {@code <unk> <s> </s>}, then byte tokens, then the given tokens. */
    static final class TinyVocab {
        private final List<String> tokens = new ArrayList<>();
        private final List<Float> scores = new ArrayList<>();
        private final List<Integer> types = new ArrayList<>();
        private boolean byteTokens = true;
        private boolean spacePrefix = true;
        private boolean bos = true;

        static TinyVocab builder() {
            return new TinyVocab();
        }

        static int idOf(Tokenizer tokenizer, String piece) {
            for (int id = 0; id < tokenizer.vocabSize(); id++) {
                if (tokenizer.piece(id).equals(piece)) {
                    return id;
                }
            }
            throw new AssertionError("no token " + piece);
        }

        TinyVocab normal(String piece, float score) {
            return add(piece, score, TokenizerSpec.TYPE_NORMAL);
        }

        TinyVocab userDefined(String piece) {
            return add(piece, 0, TokenizerSpec.TYPE_USER_DEFINED);
        }

        TinyVocab control(String piece) {
            return add(piece, 0, TokenizerSpec.TYPE_CONTROL);
        }

        TinyVocab withoutByteTokens() {
            byteTokens = false;
            return this;
        }

        TinyVocab noSpacePrefix() {
            spacePrefix = false;
            return this;
        }

        TinyVocab withoutBos() {
            bos = false;
            return this;
        }

        private TinyVocab add(String piece, float score, int type) {
            tokens.add(piece);
            scores.add(score);
            types.add(type);
            return this;
        }

        TokenizerSpec build() {
            List<String> allTokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
            List<Float> allScores = new ArrayList<>(List.of(0f, 0f, 0f));
            List<Integer> allTypes = new ArrayList<>(List.of(
                    TokenizerSpec.TYPE_UNKNOWN, TokenizerSpec.TYPE_CONTROL, TokenizerSpec.TYPE_CONTROL));
            if (byteTokens) {
                for (int b = 0; b < 256; b++) {
                    allTokens.add(String.format("<0x%02X>", b));
                    allScores.add(0f);
                    allTypes.add(TokenizerSpec.TYPE_BYTE);
                }
            }
            allTokens.addAll(tokens);
            allScores.addAll(scores);
            allTypes.addAll(types);
            float[] scoreArray = new float[allScores.size()];
            for (int i = 0; i < scoreArray.length; i++) {
                scoreArray[i] = allScores.get(i);
            }
            return new TokenizerSpec("llama", null, allTokens.toArray(String[]::new), scoreArray,
                    allTypes.stream().mapToInt(Integer::intValue).toArray(), null,
                    bos ? 1 : -1, 2, 0, -1, bos, false, spacePrefix, null);
        }
    }
}
