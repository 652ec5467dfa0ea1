package dev.jllm.model;

/**
 * Tokens to run through the model together: token i sits at {@code positions[i]} of sequence {@code sequenceIds[i]}.
 * Tokens of one sequence appear in increasing position order. Logits are computed only for tokens with
 * {@code wantLogits[i]}.
 */
public record Batch(int[] tokens, int[] positions, int[] sequenceIds, boolean[] wantLogits) {

    public Batch {
        int n = tokens.length;
        if (positions.length != n || sequenceIds.length != n || wantLogits.length != n) {
            throw new IllegalArgumentException("batch arrays differ in length");
        }
    }

    public int size() {
        return tokens.length;
    }

    /** One sequence, consecutive positions from {@code start}; logits for the last token only, or for all. */
    public static Batch ofSequence(int sequence, int[] tokens, int start, boolean allLogits) {
        int n = tokens.length;
        int[] pos = new int[n];
        int[] seq = new int[n];
        boolean[] want = new boolean[n];
        for (int i = 0; i < n; i++) {
            pos[i] = start + i;
            seq[i] = sequence;
            want[i] = allLogits || i == n - 1;
        }
        return new Batch(tokens.clone(), pos, seq, want);
    }

    public int logitCount() {
        int n = 0;
        for (boolean w : wantLogits) {
            if (w) {
                n++;
            }
        }
        return n;
    }
}
