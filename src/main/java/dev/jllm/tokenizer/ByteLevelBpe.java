package dev.jllm.tokenizer;

import static dev.jllm.tokenizer.TokenizerSpec.TYPE_CONTROL;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_NORMAL;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_UNKNOWN;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_UNUSED;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_USER_DEFINED;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Byte-level BPE as llama.cpp runs it ({@code tokenizer.ggml.model = "gpt2"}: GPT-2, Llama 3).
 *
 * <p>Encoding: special tokens are cut out first (see {@link SpecialTokens}); each remaining stretch of text is split
 * into words by the {@link PreTokenizer} the vocabulary names, each word becomes its UTF-8 bytes, one token per byte
 * (tokens are stored in GPT-2's {@link ByteLevel} alphabet), and the adjacent pair with the lowest-ranked merge is
 * merged (ties: leftmost) until no pair merges. With {@code ignoreMerges} a word that is itself a token is taken
 * whole. A binary heap of candidate pairs over a linked list of symbols keeps each word O(n log n).
 *
 * <p>Text is encoded as UTF-8 as Java's encoder does: an unpaired surrogate becomes {@code '?'}.
 */
public final class ByteLevelBpe implements Tokenizer {

    private final String[] tokens;
    private final int[] types;
    private final Map<String, Integer> idsByText;
    private final MergeTable merges;
    private final int[] byteTokenIds = new int[256];
    private final PreTokenizer preTokenizer;
    private final boolean ignoreMerges;
    private final SpecialTokens specialTokens;
    private final byte[][] decodedBytes;
    private final boolean[] endOfGeneration;
    private final int bosId;
    private final int eosId;
    private final boolean addBos;
    private final boolean addEos;

    public ByteLevelBpe(TokenizerSpec spec) {
        tokens = spec.tokens();
        if (tokens == null || tokens.length == 0) {
            throw new TokenizerException("tokenizer has no tokens");
        }
        int size = tokens.length;
        for (int id = 0; id < size; id++) {
            if (tokens[id] == null) {
                throw new TokenizerException("tokenizer token " + id + " has no text");
            }
        }
        if (spec.tokenTypes() != null && spec.tokenTypes().length != size) {
            throw new TokenizerException(
                    "tokenizer has " + size + " tokens but " + spec.tokenTypes().length + " token types");
        }
        if (spec.stripFlags() != null && spec.stripFlags().length != size) {
            throw new TokenizerException(
                    "tokenizer has " + size + " tokens but " + spec.stripFlags().length + " strip flags");
        }
        if (spec.merges() == null) {
            throw new TokenizerException("byte-level BPE tokenizer has no merges (tokenizer.ggml.merges)");
        }
        if (spec.tokenTypes() != null) {
            types = spec.tokenTypes();
        } else {
            types = new int[size];
            Arrays.fill(types, TYPE_NORMAL);
        }
        bosId = checkId(spec.bosId(), size, "BOS");
        eosId = checkId(spec.eosId(), size, "EOS");
        addBos = spec.addBos();
        addEos = spec.addEos();
        ignoreMerges = spec.ignoreMerges();
        preTokenizer = PreTokenizer.forName(spec.pre());

        // As llama.cpp: when two tokens have the same text, the later id is the one found.
        idsByText = HashMap.newHashMap(size);
        for (int id = 0; id < size; id++) {
            if (!tokens[id].isEmpty()) {
                idsByText.put(tokens[id], id);
            }
        }
        merges = new MergeTable(spec.merges(), idsByText);
        for (int b = 0; b < 256; b++) {
            Integer id = idsByText.get(String.valueOf(ByteLevel.charOf(b)));
            byteTokenIds[b] = id != null ? id : -1;
        }
        specialTokens = new SpecialTokens(tokens, types, spec.stripFlags());
        decodedBytes = new byte[size][];
        for (int id = 0; id < size; id++) {
            decodedBytes[id] = switch (types[id]) {
                case TYPE_NORMAL -> ByteLevel.decode(tokens[id]);
                case TYPE_USER_DEFINED -> tokens[id].getBytes(StandardCharsets.UTF_8);
                default -> new byte[0]; // control, unknown, unused, byte: nothing, as llama.cpp without "special"
            };
        }
        endOfGeneration = EndOfGeneration.flags(spec);
    }

    private static int checkId(int id, int size, String what) {
        if (id < -1 || id >= size) {
            throw new TokenizerException(what + " id " + id + " is outside the vocabulary of " + size + " tokens");
        }
        return id;
    }

    // ---------------------------------------------------------------------------------------------------- encoding

    @Override
    public int[] encode(String text, boolean addBos, boolean addEos, boolean parseSpecial) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addBos) {
            if (bosId < 0) {
                throw new TokenizerException("cannot add BOS: the vocabulary has no BOS token");
            }
            out.add(bosId);
        }
        WordEncoder encoder = new WordEncoder(out);
        for (SpecialTokens.Fragment fragment : specialTokens.partition(text, parseSpecial)) {
            if (!fragment.isText()) {
                out.add(fragment.token());
                continue;
            }
            int[] cps = codePoints(text, fragment.start(), fragment.end());
            preTokenizer.split(cps, 0, cps.length, (start, end) -> encoder.encodeWord(cps, start, end));
        }
        if (addEos) {
            if (eosId < 0) {
                throw new TokenizerException("cannot add EOS: the vocabulary has no EOS token");
            }
            out.add(eosId);
        }
        return out.toArray();
    }

    /**
     * The code points of {@code text[from, to)}, an unpaired surrogate as {@code '?'} (as Java's UTF-8 encoder) unless
     * it is an escaped raw byte ({@link RawUtf8}), which stays and becomes that byte again.
     */
    private static int[] codePoints(String text, int from, int to) {
        int[] cps = new int[to - from];
        int n = 0;
        for (int i = from; i < to; ) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < to && Character.isLowSurrogate(text.charAt(i + 1))) {
                cps[n++] = Character.toCodePoint(c, text.charAt(i + 1));
                i += 2;
            } else {
                cps[n++] = Character.isSurrogate(c) && RawUtf8.byteOf(c) < 0 ? '?' : c;
                i++;
            }
        }
        return n == cps.length ? cps : Arrays.copyOf(cps, n);
    }

    /** BPE over the bytes of one word at a time; buffers are reused across the words of one call. */
    private final class WordEncoder {
        private final IntList out;
        private byte[] bytes = new byte[64];
        private int[] ids = new int[64];
        private int[] prev = new int[64];
        private int[] next = new int[64];
        private final LongHeap heap = new LongHeap();

        WordEncoder(IntList out) {
            this.out = out;
        }

        void encodeWord(int[] cps, int start, int end) {
            int n = utf8(cps, start, end);
            if (ignoreMerges) {
                Integer whole = idsByText.get(ByteLevel.encode(bytes, 0, n));
                if (whole != null) {
                    out.add(whole);
                    return;
                }
            }
            if (ids.length < n) {
                int capacity = Math.max(n, ids.length * 2);
                ids = new int[capacity];
                prev = new int[capacity];
                next = new int[capacity];
            }
            for (int i = 0; i < n; i++) {
                ids[i] = byteTokenIds[bytes[i] & 0xFF];
                prev[i] = i - 1;
                next[i] = i + 1 < n ? i + 1 : -1;
            }
            heap.clear();
            for (int i = 1; i < n; i++) {
                pushPair(i - 1, i);
            }
            while (!heap.isEmpty()) {
                long top = heap.pop();
                int rank = LongHeap.priority(top);
                int left = LongHeap.left(top);
                int right = next[left];
                // Skip pairs that an earlier merge changed: the pair at 'left' must still be this merge.
                if (ids[left] == -2 || right < 0 || merges.rank(ids[left], ids[right]) != rank) {
                    continue;
                }
                ids[left] = merges.result(rank);
                ids[right] = -2; // merged away
                next[left] = next[right];
                if (next[right] >= 0) {
                    prev[next[right]] = left;
                }
                if (prev[left] >= 0) {
                    pushPair(prev[left], left);
                }
                if (next[left] >= 0) {
                    pushPair(left, next[left]);
                }
            }
            for (int i = 0; i != -1; i = next[i]) {
                // A byte without a token (a vocabulary without the full byte alphabet) is dropped, as in llama.cpp.
                if (ids[i] >= 0) {
                    out.add(ids[i]);
                }
            }
        }

        /** Writes the UTF-8 of {@code cps[start, end)} into {@code bytes}; returns the length. */
        private int utf8(int[] cps, int start, int end) {
            int max = (end - start) * 4;
            if (bytes.length < max) {
                bytes = new byte[Math.max(max, bytes.length * 2)];
            }
            int n = 0;
            for (int i = start; i < end; i++) {
                int cp = cps[i];
                if (RawUtf8.byteOf(cp) >= 0) {
                    bytes[n++] = (byte) RawUtf8.byteOf(cp);
                } else if (cp < 0x80) {
                    bytes[n++] = (byte) cp;
                } else if (cp < 0x800) {
                    bytes[n++] = (byte) (0xC0 | (cp >> 6));
                    bytes[n++] = (byte) (0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    bytes[n++] = (byte) (0xE0 | (cp >> 12));
                    bytes[n++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                    bytes[n++] = (byte) (0x80 | (cp & 0x3F));
                } else {
                    bytes[n++] = (byte) (0xF0 | (cp >> 18));
                    bytes[n++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                    bytes[n++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                    bytes[n++] = (byte) (0x80 | (cp & 0x3F));
                }
            }
            return n;
        }

        private void pushPair(int left, int right) {
            int rank = merges.rank(ids[left], ids[right]);
            if (rank >= 0) {
                heap.push(LongHeap.entry(rank, left)); // lowest rank first, then leftmost
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------- decoding

    @Override
    public byte[] decodeBytes(int id, int previousId) {
        checkToken(id);
        return decodedBytes[id].clone();
    }

    @Override
    public byte[] renderBytes(int id) {
        checkToken(id);
        int type = types[id];
        return type == TYPE_CONTROL || type == TYPE_UNKNOWN || type == TYPE_UNUSED
                ? tokens[id].getBytes(StandardCharsets.UTF_8)
                : decodedBytes[id].clone();
    }

    @Override
    public String piece(int id) {
        checkToken(id);
        return tokens[id];
    }

    @Override
    public boolean isEndOfGeneration(int id) {
        return id >= 0 && id < endOfGeneration.length && endOfGeneration[id];
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public boolean addBosByDefault() {
        return addBos;
    }

    @Override
    public boolean addEosByDefault() {
        return addEos;
    }

    /** The GGUF type of a token ({@link TokenizerSpec#TYPE_NORMAL} and so on). */
    public int tokenType(int id) {
        checkToken(id);
        return types[id];
    }

    private void checkToken(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new TokenizerException("token id " + id + " is outside the vocabulary of " + tokens.length + " tokens");
        }
    }
}
