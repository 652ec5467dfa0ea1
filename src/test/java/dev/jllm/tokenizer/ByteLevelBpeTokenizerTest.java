package dev.jllm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Byte-level BPE beyond llama.cpp's vectors: the byte alphabet, merge order, ignore_merges, special tokens. */
class ByteLevelBpeTokenizerTest {

    @Test
    void gpt2ByteAlphabet() {
        assertEquals('Ġ', ByteLevel.charOf(' '));
        assertEquals('Ċ', ByteLevel.charOf('\n'));
        assertEquals('ĉ', ByteLevel.charOf('\t'));
        assertEquals('A', ByteLevel.charOf('A'));
        assertEquals('Ā', ByteLevel.charOf(0));
        assertEquals('ÿ', ByteLevel.charOf(0xFF));
        assertEquals('ġ', ByteLevel.charOf(0x7F));
        java.util.Set<Character> seen = new java.util.HashSet<>();
        for (int b = 0; b < 256; b++) {
            assertEquals(b, ByteLevel.byteOf(ByteLevel.charOf(b)));
            assertTrue(seen.add(ByteLevel.charOf(b)));
        }
        // Llama 3 stores "Hello" with a space as "ĠHello", and " 🦙" as its four bytes' characters.
        assertEquals("ĠHello", ByteLevel.encode(" Hello".getBytes(StandardCharsets.UTF_8)));
        assertArrayEquals(" 🦙".getBytes(StandardCharsets.UTF_8), ByteLevel.decode(ByteLevel.encode(
                " 🦙".getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    void lowestRankMergesFirstThenLeftmost() {
        Tokenizer tiny = Tokenizer.from(new Vocab().tokens("ab", "bc", "aa").merges("b c", "a b", "a a").build());
        assertEquals(List.of("a", "bc"), pieces(tiny, "abc"));
        assertEquals(List.of("aa", "aa", "a"), pieces(tiny, "aaaaa"));
    }

    @Test
    void ignoreMergesTakesAWordThatIsATokenWhole() {
        Vocab vocab = new Vocab().tokens("ab", "abc").merges("a b");
        assertEquals(List.of("ab", "c"), pieces(Tokenizer.from(vocab.build()), "abc"));
        assertEquals(List.of("abc"), pieces(Tokenizer.from(vocab.ignoreMerges().build()), "abc"));
    }

    @Test
    void specialTokens() {
        Vocab vocab = new Vocab().tokens("Ġx").merges("Ġ x").control("<|eot_id|>").userDefined("<tool>");
        Tokenizer tiny = Tokenizer.from(vocab.build());
        int eot = vocab.id("<|eot_id|>");
        int tool = vocab.id("<tool>");
        // Control tokens only when asked; user-defined tokens always (as llama.cpp).
        assertEquals(List.of("<", "|", "eot", "_", "id", "|", ">"), words(tiny, "<|eot_id|>"));
        assertArrayEquals(new int[] {eot}, tiny.encode("<|eot_id|>", false, true));
        assertEquals(List.of("<tool>", "Ġx"), pieces(tiny, "<tool> x"));
        // Decoding: control tokens add nothing; user-defined tokens their text; rendering shows both.
        assertEquals("<tool> x", tiny.decode(tiny.encode("<|eot_id|><tool> x", false, true)));
        assertEquals("<|eot_id|>", new String(tiny.renderBytes(eot), StandardCharsets.UTF_8));
        assertTrue(tiny.isEndOfGeneration(eot));
        assertFalse(tiny.isEndOfGeneration(tool));
    }

    @Test
    void stripFlagsSwallowWhitespaceBesideASpecialToken() {
        Vocab vocab = new Vocab().tokens("Ġx").merges("Ġ x").control("<a>").control("<b>");
        int a = vocab.id("<a>");
        int b = vocab.id("<b>");
        int[] flags = new int[vocab.size()];
        flags[a] = TokenizerSpec.STRIP_RIGHT;
        flags[b] = TokenizerSpec.STRIP_LEFT;
        Tokenizer tiny = Tokenizer.from(vocab.build().withStripFlags(flags));
        // " \n x" after <a> loses its whitespace; the "  " before <b> goes too, the space of " x" stays.
        assertEquals(List.of("<a>", "x", "<b>", "Ġx"), piecesSpecial(tiny, "<a> \n x  <b> x"));
        assertEquals(List.of("Ġ", "<a>", "x"), piecesSpecial(tiny, " <a>x"));
    }

    @Test
    void badMergesAreRejected() {
        TokenizerException e = assertThrows(TokenizerException.class,
                () -> Tokenizer.from(new Vocab().tokens("ab").merges("a zz").build()));
        assertTrue(e.getMessage().contains("'zz'"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizer.from(new Vocab().merges("a b").build()));
        assertTrue(e.getMessage().contains("'ab'"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizer.from(new Vocab().tokens("ab").merges("ab").build()));
        assertTrue(e.getMessage().contains("'ab' is not two tokens"), e.getMessage());
    }

    @Test
    void gpt2VocabularyBasics() {
        Tokenizer gpt2 = SharedVocabs.tokenizer(SharedVocabs.GPT2);
        assertEquals(50257, gpt2.vocabSize());
        assertEquals(50256, gpt2.eosId());
        assertFalse(gpt2.addBosByDefault());
        assertTrue(gpt2.isEndOfGeneration(50256));
        // "<|endoftext|>" is a control token: text unless special tokens are parsed.
        assertArrayEquals(new int[] {50256}, gpt2.encode("<|endoftext|>", false, true));
        assertTrue(gpt2.encode("<|endoftext|>", false, false).length > 1);
        assertEquals("ĠHello", gpt2.piece(gpt2.encode(" Hello", false, false)[0]));
        assertEquals(" Hello", new String(gpt2.renderBytes(gpt2.encode(" Hello", false, false)[0]),
                StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------------------------------------- helpers

    private static List<String> pieces(Tokenizer tokenizer, String text) {
        List<String> pieces = new ArrayList<>();
        for (int id : tokenizer.encode(text, false, false)) {
            pieces.add(tokenizer.piece(id));
        }
        return pieces;
    }

    private static List<String> piecesSpecial(Tokenizer tokenizer, String text) {
        List<String> pieces = new ArrayList<>();
        for (int id : tokenizer.encode(text, false, true)) {
            pieces.add(tokenizer.piece(id));
        }
        return pieces;
    }

    /** The decoded text of each token. */
    private static List<String> words(Tokenizer tokenizer, String text) {
        List<String> words = new ArrayList<>();
        for (int id : tokenizer.encode(text, false, false)) {
            words.add(new String(tokenizer.decodeBytes(id, Tokenizer.NO_TOKEN), StandardCharsets.UTF_8));
        }
        return words;
    }

    /**
     * A small GPT-2 style vocabulary: the 256 byte characters, then the given tokens, with pre-tokenizer
     * {@code gpt-2} (GPT-2's pattern, no ignore_merges).
     */
    static final class Vocab {
        private final List<String> tokens = new ArrayList<>();
        private final List<Integer> types = new ArrayList<>();
        private final List<String> merges = new ArrayList<>();
        private boolean ignoreMerges;

        Vocab() {
            for (int b = 0; b < 256; b++) {
                add(String.valueOf(ByteLevel.charOf(b)), TokenizerSpec.TYPE_NORMAL);
            }
            // "eot" and "id", so that "<|eot_id|>" as text has some merged words.
            tokens("eo", "eot", "id").merges("e o", "eo t", "i d");
        }

        Vocab tokens(String... texts) {
            for (String text : texts) {
                add(text, TokenizerSpec.TYPE_NORMAL);
            }
            return this;
        }

        Vocab merges(String... list) {
            merges.addAll(List.of(list));
            return this;
        }

        Vocab control(String text) {
            return add(text, TokenizerSpec.TYPE_CONTROL);
        }

        Vocab userDefined(String text) {
            return add(text, TokenizerSpec.TYPE_USER_DEFINED);
        }

        Vocab ignoreMerges() {
            ignoreMerges = true;
            return this;
        }

        private Vocab add(String text, int type) {
            tokens.add(text);
            types.add(type);
            return this;
        }

        int id(String text) {
            return tokens.indexOf(text);
        }

        int size() {
            return tokens.size();
        }

        TokenizerSpec build() {
            return new TokenizerSpec("gpt2", "gpt-2", tokens.toArray(String[]::new), null,
                    types.stream().mapToInt(Integer::intValue).toArray(), List.copyOf(merges), -1, -1, -1, -1,
                    false, false, false, null, ignoreMerges, null);
        }
    }
}
