package dev.jllm.tokenizer;

import static dev.jllm.tokenizer.TokenizerSpec.TYPE_BYTE;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_CONTROL;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_NORMAL;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_UNKNOWN;
import static dev.jllm.tokenizer.TokenizerSpec.TYPE_USER_DEFINED;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * SentencePiece BPE as llama.cpp runs it ({@code tokenizer.ggml.model = "llama"}, llama.cpp's {@code llm_tokenizer_spm}).
 *
 * <p>Encoding: special tokens written in the text are cut out first (user-defined tokens always, control and unknown
 * tokens only when asked), longest text first. Each remaining stretch of text gets a space prefix if it starts the
 * text or follows a special token, has its spaces replaced by {@code '▁'}, and is split into characters; then the
 * adjacent pair whose concatenation is the token with the highest score is merged (ties: leftmost) until no pair is a
 * token. Pieces that are not tokens fall back to {@code <0xNN>} byte tokens. A priority queue of candidate pairs over
 * a linked list of symbols keeps this O(n log n).
 *
 * <p>A vocabulary that comes with merges (Hugging Face's {@code tokenizer.json} in SentencePiece style: BPE with
 * {@code byte_fallback}) merges by their rank instead, as Hugging Face's BPE does: the adjacent pair of tokens with the
 * lowest-ranked merge first (ties: leftmost). Converted from a SentencePiece model, its merges are ordered by the score
 * of the merged piece, so both rules give the same tokens.
 */
public final class SentencePieceBpe implements Tokenizer {

    private static final char SPACE_MARK = '\u2581';

    private final String[] pieces;
    /** Per token, the rank of its score among all scores, highest first (equal scores share a rank). */
    private final int[] scorePriority;
    private final int[] types;
    private final Map<String, Integer> idsByPiece;
    private final int[] byteTokenIds;
    private final SpecialTokens specialTokens;
    /** Merges by rank, or null to merge by score. */
    private final MergeTable merges;
    /** The bytes each token adds to the text, before the leading space is stripped. */
    private final byte[][] decodedBytes;
    private final boolean[] endOfGeneration;
    private final int bosId;
    private final int eosId;
    private final int unkId;
    private final boolean addBos;
    private final boolean addEos;
    private final boolean addSpacePrefix;

    public SentencePieceBpe(TokenizerSpec spec) {
        pieces = spec.tokens();
        if (pieces == null || pieces.length == 0) {
            throw new TokenizerException("tokenizer has no tokens");
        }
        int size = pieces.length;
        for (int id = 0; id < size; id++) {
            if (pieces[id] == null) {
                throw new TokenizerException("tokenizer token " + id + " has no text");
            }
        }
        if (spec.scores() != null && spec.scores().length != size) {
            throw new TokenizerException("tokenizer has " + size + " tokens but " + spec.scores().length + " scores");
        }
        if (spec.tokenTypes() != null && spec.tokenTypes().length != size) {
            throw new TokenizerException(
                    "tokenizer has " + size + " tokens but " + spec.tokenTypes().length + " token types");
        }
        // As llama.cpp: no scores means all 0, no types means all normal.
        float[] scores = spec.scores() != null ? spec.scores() : new float[size];
        if (spec.tokenTypes() != null) {
            types = spec.tokenTypes();
        } else {
            types = new int[size];
            Arrays.fill(types, TYPE_NORMAL);
        }
        scorePriority = scorePriorities(scores);
        bosId = checkId(spec.bosId(), size, "BOS");
        eosId = checkId(spec.eosId(), size, "EOS");
        unkId = checkId(spec.unkId(), size, "unknown-token");
        addBos = spec.addBos();
        addEos = spec.addEos();
        addSpacePrefix = spec.addSpacePrefix();

        // As llama.cpp: when two tokens have the same text, the later id is the one found.
        idsByPiece = HashMap.newHashMap(size);
        for (int id = 0; id < size; id++) {
            if (!pieces[id].isEmpty()) {
                idsByPiece.put(pieces[id], id);
            }
        }

        byteTokenIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = idsByPiece.get(String.format("<0x%02X>", b));
            if (id == null && b < 0x80) {
                id = idsByPiece.get(String.valueOf((char) b));
            }
            byteTokenIds[b] = id != null ? id : unkId;
        }

        if (spec.stripFlags() != null && spec.stripFlags().length != size) {
            throw new TokenizerException(
                    "tokenizer has " + size + " tokens but " + spec.stripFlags().length + " strip flags");
        }
        specialTokens = new SpecialTokens(pieces, types, spec.stripFlags());
        merges = spec.merges() != null ? new MergeTable(spec.merges(), idsByPiece) : null;

        decodedBytes = new byte[size][];
        for (int id = 0; id < size; id++) {
            decodedBytes[id] = decodeToken(id);
        }
        endOfGeneration = EndOfGeneration.flags(spec);
    }

    /**
     * Scores as ranks, highest first. Compared as llama.cpp compares them (with {@code <}), so -0.0 and 0.0 tie;
     * NaN ranks last.
     */
    private static int[] scorePriorities(float[] scores) {
        float[] distinct = new float[scores.length];
        for (int i = 0; i < scores.length; i++) {
            distinct[i] = normalized(scores[i]);
        }
        Arrays.sort(distinct);
        int n = 0;
        for (float score : distinct) {
            if (n == 0 || distinct[n - 1] != score) {
                distinct[n++] = score;
            }
        }
        int[] priorities = new int[scores.length];
        for (int i = 0; i < scores.length; i++) {
            priorities[i] = n - 1 - Arrays.binarySearch(distinct, 0, n, normalized(scores[i]));
        }
        return priorities;
    }

    private static float normalized(float score) {
        return Float.isNaN(score) ? Float.NEGATIVE_INFINITY : score + 0.0f; // -0.0 + 0.0 == 0.0
    }

    private static int checkId(int id, int size, String what) {
        if (id < -1 || id >= size) {
            throw new TokenizerException(what + " id " + id + " is outside the vocabulary of " + size + " tokens");
        }
        return id;
    }

    private byte[] decodeToken(int id) {
        String piece = pieces[id];
        return switch (types[id]) {
            case TYPE_NORMAL -> piece.replace(SPACE_MARK, ' ').getBytes(StandardCharsets.UTF_8);
            case TYPE_BYTE -> {
                int value = parseByteToken(piece);
                yield value >= 0 ? new byte[] {(byte) value} : piece.getBytes(StandardCharsets.UTF_8);
            }
            case TYPE_USER_DEFINED -> piece.getBytes(StandardCharsets.UTF_8);
            default -> new byte[0]; // control, unknown, unused: nothing, as llama.cpp prints them without "special"
        };
    }

    /** The byte of a {@code <0xNN>} piece, or -1. */
    private static int parseByteToken(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') {
            return -1;
        }
        int high = Character.digit(piece.charAt(3), 16);
        int low = Character.digit(piece.charAt(4), 16);
        return high < 0 || low < 0 ? -1 : high * 16 + low;
    }

    // ---------------------------------------------------------------------------------------------------- encoding

    @Override
    public int[] encode(String text, boolean addBos, boolean addEos, boolean parseSpecial) {
        IntList out = new IntList(text.length() / 2 + 4);
        if (addBos) {
            if (bosId < 0) {
                throw new TokenizerException("cannot add BOS: the vocabulary has no BOS token");
            }
            out.add(bosId);
        }
        boolean afterSpecial = true; // the start of the text counts as following a special token
        for (SpecialTokens.Fragment fragment : specialTokens.partition(text, parseSpecial)) {
            if (!fragment.isText()) {
                out.add(fragment.token());
                afterSpecial = true;
            } else {
                String raw = text.substring(fragment.start(), fragment.end());
                if (addSpacePrefix && afterSpecial) {
                    raw = " " + raw;
                }
                encodeText(raw.replace(' ', SPACE_MARK), out);
                afterSpecial = false;
            }
        }
        if (addEos) {
            if (eosId < 0) {
                throw new TokenizerException("cannot add EOS: the vocabulary has no EOS token");
            }
            out.add(eosId);
        }
        return out.toArray();
    }

    /** Encodes text whose spaces are already {@code '▁'}. */
    private void encodeText(String text, IntList out) {
        int count = text.codePointCount(0, text.length());
        if (count == 0) {
            return;
        }
        // Symbols: one per character at first, a doubly linked list; a merged-away symbol has length 0.
        int[] start = new int[count];
        int[] length = new int[count];
        int[] ids = new int[count]; // the token each symbol is, or -1
        int[] prev = new int[count];
        int[] next = new int[count];
        for (int i = 0, offset = 0; i < count; i++) {
            int chars = Character.charCount(text.codePointAt(offset));
            start[i] = offset;
            length[i] = chars;
            ids[i] = idOf(text, offset, chars);
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
            offset += chars;
        }
        Symbols symbols = new Symbols(text, start, length, ids);

        LongHeap heap = new LongHeap();
        for (int i = 1; i < count; i++) {
            pushPair(symbols, i - 1, i, heap);
        }
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int left = LongHeap.left(top);
            int right = length[left] == 0 ? -1 : next[left];
            // Skip candidates that a merge has made stale: the pair at 'left' must still merge with this priority.
            // (Another pair with the same priority at the same place is just as good: it is this very candidate.)
            long pair = right < 0 ? -1 : pairPriority(symbols, left, right);
            if (pair < 0 || (int) (pair >>> 32) != LongHeap.priority(top)) {
                continue;
            }
            length[left] += length[right];
            length[right] = 0;
            ids[left] = (int) pair;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            if (prev[left] >= 0) {
                pushPair(symbols, prev[left], left, heap);
            }
            if (next[left] >= 0) {
                pushPair(symbols, left, next[left], heap);
            }
        }

        for (int i = 0; i != -1; i = next[i]) {
            if (ids[i] >= 0) {
                out.add(ids[i]);
                continue;
            }
            for (byte b : RawUtf8.encode(text.substring(start[i], start[i] + length[i]))) {
                int byteId = byteTokenIds[b & 0xFF];
                if (byteId < 0) {
                    throw new TokenizerException(String.format(
                            "cannot encode byte 0x%02X: the vocabulary has no byte token and no unknown token",
                            b & 0xFF));
                }
                out.add(byteId);
            }
        }
    }

    /** The symbols of one text being merged. */
    private record Symbols(String text, int[] start, int[] length, int[] ids) {
    }

    private int idOf(String text, int start, int length) {
        Integer id = idsByPiece.get(text.substring(start, start + length));
        return id != null ? id : -1;
    }

    /**
     * Whether symbols {@code left} and {@code right} merge: (priority &lt;&lt; 32 | token made), lower priority first,
     * or -1. By score: the token their concatenation is, highest score first. By rank: the merge of their two tokens.
     */
    private long pairPriority(Symbols symbols, int left, int right) {
        int token;
        int priority;
        if (merges != null) {
            priority = merges.rank(symbols.ids[left], symbols.ids[right]);
            if (priority < 0) {
                return -1;
            }
            token = merges.result(priority);
        } else {
            token = idOf(symbols.text, symbols.start[left], symbols.length[left] + symbols.length[right]);
            if (token < 0) {
                return -1;
            }
            priority = scorePriority[token];
        }
        return ((long) priority << 32) | token;
    }

    private void pushPair(Symbols symbols, int left, int right, LongHeap heap) {
        long pair = pairPriority(symbols, left, right);
        if (pair >= 0) {
            heap.push(LongHeap.entry((int) (pair >>> 32), left)); // then leftmost
        }
    }

    // ---------------------------------------------------------------------------------------------------- decoding

    @Override
    public byte[] decodeBytes(int id, int previousId) {
        checkToken(id);
        byte[] bytes = decodedBytes[id];
        boolean textStart = previousId == NO_TOKEN || (previousId == bosId && bosId >= 0);
        if (addSpacePrefix && textStart && types[id] == TYPE_NORMAL && bytes.length > 0 && bytes[0] == ' ') {
            return Arrays.copyOfRange(bytes, 1, bytes.length);
        }
        return bytes.clone();
    }

    @Override
    public byte[] renderBytes(int id) {
        checkToken(id);
        int type = types[id];
        return type == TYPE_CONTROL || type == TYPE_UNKNOWN || type == TokenizerSpec.TYPE_UNUSED
                ? pieces[id].getBytes(StandardCharsets.UTF_8)
                : decodedBytes[id].clone();
    }

    @Override
    public String piece(int id) {
        checkToken(id);
        return pieces[id];
    }

    @Override
    public boolean isEndOfGeneration(int id) {
        return id >= 0 && id < endOfGeneration.length && endOfGeneration[id];
    }

    @Override
    public int vocabSize() {
        return pieces.length;
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
        if (id < 0 || id >= pieces.length) {
            throw new TokenizerException("token id " + id + " is outside the vocabulary of " + pieces.length + " tokens");
        }
    }
}
