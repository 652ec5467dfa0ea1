package dev.jllm.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * BPE merges by token id: the rank of merging token {@code left} with token {@code right}, and the token it makes.
 * Every merge must name two tokens whose concatenation is a token too (as Hugging Face's BPE requires); when a pair
 * is listed twice the first rank counts, as in llama.cpp. An open-addressing table keyed by the id pair.
 */
final class MergeTable {

    private static final long EMPTY = -1L;

    private final long[] keys;
    private final int[] ranks;
    private final int[] results;
    private final int mask;

    /**
     * @param merges     "left right" per entry, in rank order
     * @param idsByText  token text to id
     */
    MergeTable(List<String> merges, Map<String, Integer> idsByText) {
        int capacity = Integer.highestOneBit(Math.max(4, merges.size() * 2 - 1)) << 1;
        keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        ranks = new int[capacity];
        mask = capacity - 1;
        results = new int[merges.size()];
        for (int rank = 0; rank < merges.size(); rank++) {
            String merge = merges.get(rank);
            if (merge == null) {
                throw new TokenizerException("merge " + rank + " is missing");
            }
            int space = merge.indexOf(' ', 1);
            if (space < 0 || merge.indexOf(' ', space + 1) >= 0) {
                throw new TokenizerException("merge " + rank + " '" + merge + "' is not two tokens separated by one space");
            }
            String left = merge.substring(0, space);
            String right = merge.substring(space + 1);
            int leftId = idOf(idsByText, left, rank, merge);
            int rightId = idOf(idsByText, right, rank, merge);
            results[rank] = idOf(idsByText, left + right, rank, merge);
            long key = key(leftId, rightId);
            int slot = slot(key);
            if (keys[slot] == EMPTY) {
                keys[slot] = key;
                ranks[slot] = rank;
            }
        }
    }

    private static int idOf(Map<String, Integer> idsByText, String text, int rank, String merge) {
        Integer id = idsByText.get(text);
        if (id == null) {
            throw new TokenizerException("merge " + rank + " '" + merge + "' names '" + text
                    + "', which is not a token of the vocabulary");
        }
        return id;
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        int slot = (int) (h >>> 40) & mask;
        while (keys[slot] != EMPTY && keys[slot] != key) {
            slot = (slot + 1) & mask;
        }
        return slot;
    }

    /** The rank of merging {@code left} with {@code right}, or -1 when they do not merge. */
    int rank(int left, int right) {
        if (left < 0 || right < 0) {
            return -1;
        }
        long key = key(left, right);
        int slot = slot(key);
        return keys[slot] == key ? ranks[slot] : -1;
    }

    /** The token the merge of this rank makes. */
    int result(int rank) {
        return results[rank];
    }

    int size() {
        return results.length;
    }
}
