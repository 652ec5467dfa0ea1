package dev.jllm.tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads Meta's Llama 3 {@code tokenizer.model} in tiktoken's format: one token per line, its bytes in base64, a space,
 * and its rank (ranks 0, 1, 2, ... are the token ids). The file holds no merges and no special tokens:
 * <ul>
 * <li>merges are derived from the ranks as Hugging Face's conversion does it: for each token, every split into two
 *     tokens is a merge, merges ordered by the rank of the token they make (then by the ranks of the two halves), so
 *     byte-level BPE over them gives tiktoken's tokens;</li>
 * <li>Meta's 256 special tokens follow the ranks, named as Meta's Llama 3.1 tokenizer names them
 *     ({@code <|begin_of_text|>}, {@code <|end_of_text|>}, ..., {@code <|eot_id|>}, ...).</li>
 * </ul>
 * Words are pre-tokenized with the Llama 3 pattern, a word that is a token is taken whole (tiktoken's rule), and BOS
 * ({@code <|begin_of_text|>}) is added by default.
 */
public final class TiktokenLoader {

    private static final int SPECIAL_TOKEN_COUNT = 256;
    private static final List<String> NAMED_SPECIAL_TOKENS = List.of(
            "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
            "<|eot_id|>", "<|python_tag|>", "<|image|>");

    private TiktokenLoader() {
    }

    /** Whether the data looks like a tiktoken file: its first line is base64, a space and a number. */
    static boolean looksLikeTiktoken(byte[] data) {
        int end = 0;
        while (end < data.length && data[end] != '\n' && end < 1024) {
            end++;
        }
        String line = new String(data, 0, end, java.nio.charset.StandardCharsets.ISO_8859_1).strip();
        return line.matches("[A-Za-z0-9+/]+=* [0-9]+");
    }

    public static TokenizerSpec load(Path file) {
        return parse(file, TokenizerFiles.readAll(file));
    }

    /** The tokenizer of a tiktoken file's bytes; {@code file} names them in messages. */
    static TokenizerSpec parse(Path file, byte[] data) {
        Map<String, Integer> ranks = new HashMap<>();
        List<String> byRank = new ArrayList<>();
        Base64.Decoder base64 = Base64.getDecoder();
        int lineNumber = 0;
        for (int start = 0; start < data.length; ) {
            int end = start;
            while (end < data.length && data[end] != '\n') {
                end++;
            }
            lineNumber++;
            String line = new String(data, start, end - start, java.nio.charset.StandardCharsets.ISO_8859_1).strip();
            start = end + 1;
            if (line.isEmpty()) {
                continue;
            }
            int space = line.indexOf(' ');
            if (space < 0 || line.indexOf(' ', space + 1) >= 0) {
                throw malformed(file, "line " + lineNumber + " is not 'base64 rank'");
            }
            byte[] bytes;
            try {
                bytes = base64.decode(line.substring(0, space));
            } catch (IllegalArgumentException e) {
                throw malformed(file, "line " + lineNumber + ": bad base64 '" + abbreviate(line.substring(0, space))
                        + "'");
            }
            if (bytes.length == 0) {
                throw malformed(file, "line " + lineNumber + ": empty token");
            }
            int rank;
            try {
                rank = Integer.parseInt(line.substring(space + 1));
            } catch (NumberFormatException e) {
                throw malformed(file, "line " + lineNumber + ": bad rank '" + abbreviate(line.substring(space + 1)) + "'");
            }
            if (rank != byRank.size()) {
                throw malformed(file, "line " + lineNumber + " has rank " + rank + " (expected " + byRank.size()
                        + ": ranks count up from 0)");
            }
            String text = ByteLevel.encode(bytes);
            if (ranks.putIfAbsent(text, rank) != null) {
                throw malformed(file, "line " + lineNumber + " repeats the token of rank " + ranks.get(text));
            }
            byRank.add(text);
        }
        if (byRank.isEmpty()) {
            throw malformed(file, "no tokens");
        }

        List<String> merges = merges(byRank, ranks);
        int regular = byRank.size();
        int size = regular + SPECIAL_TOKEN_COUNT;
        String[] tokens = new String[size];
        int[] types = new int[size];
        for (int id = 0; id < regular; id++) {
            tokens[id] = byRank.get(id);
            types[id] = TokenizerSpec.TYPE_NORMAL;
        }
        for (int i = 0; i < SPECIAL_TOKEN_COUNT; i++) {
            tokens[regular + i] = i < NAMED_SPECIAL_TOKENS.size() ? NAMED_SPECIAL_TOKENS.get(i)
                    : "<|reserved_special_token_" + (i - NAMED_SPECIAL_TOKENS.size() + 2) + "|>";
            types[regular + i] = TokenizerSpec.TYPE_CONTROL;
        }
        return new TokenizerSpec("gpt2", "llama-bpe", tokens, null, types, merges,
                regular, regular + 1, -1, -1, true, false, false, null, true, null);
    }

    /** Every split of every token into two tokens, by the rank of the token made, then the ranks of the halves. */
    static List<String> merges(List<String> byRank, Map<String, Integer> ranks) {
        List<String> merges = new ArrayList<>(byRank.size() * 3);
        long[] local = new long[64];
        for (String token : byRank) {
            int n = 0;
            for (int split = 1; split < token.length(); split++) {
                Integer left = ranks.get(token.substring(0, split));
                Integer right = ranks.get(token.substring(split));
                if (left != null && right != null) {
                    if (n == local.length) {
                        local = Arrays.copyOf(local, n * 2);
                    }
                    // Each split has its own left half, so the left rank alone orders them.
                    local[n++] = ((long) left << 32) | split;
                }
            }
            Arrays.sort(local, 0, n);
            for (int i = 0; i < n; i++) {
                int split = (int) local[i];
                merges.add(token.substring(0, split) + " " + token.substring(split));
            }
        }
        return merges;
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }

    private static TokenizerException malformed(Path file, String problem) {
        return new TokenizerException("tokenizer file " + file + ": " + problem);
    }
}
