package dev.jllm.sampling;

/**
 * The log-probability of a chosen token and of the most likely tokens at that step, from the model's raw logits
 * (log-softmax before penalties, truncation and temperature), as OpenAI's {@code logprobs} and llama.cpp's server
 * (without {@code post_sampling_probs}) report them.
 *
 * @param token       the chosen token
 * @param logprob     its natural-log probability
 * @param topTokens   the most likely tokens, most likely first (ties: lower id first)
 * @param topLogprobs their log-probabilities
 */
public record TokenLogprobs(int token, float logprob, int[] topTokens, float[] topLogprobs) {

    /**
     * The log-probabilities of {@code token} and of the {@code top} most likely tokens (0 for none) for the logits
     * row {@code logits[offset .. offset + vocab)}.
     */
    public static TokenLogprobs of(float[] logits, int offset, int vocab, int token, int top) {
        if (token < 0 || token >= vocab) {
            throw new IllegalArgumentException("token " + token + " is outside the vocabulary (0.." + (vocab - 1) + ")");
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp((double) logits[offset + i] - max);
        }
        double logSum = max + Math.log(sum);
        int n = Math.min(Math.max(top, 0), vocab);
        int[] ids = new int[n];
        float[] values = new float[n];
        int filled = 0;
        // Insertion into a short sorted list: top is at most 20, so this is one pass over the vocabulary.
        for (int i = 0; i < vocab && n > 0; i++) {
            float v = logits[offset + i];
            if (filled == n && !(v > logits[offset + ids[n - 1]])) {
                continue;
            }
            int at = filled < n ? filled++ : n - 1;
            while (at > 0 && v > logits[offset + ids[at - 1]]) {
                ids[at] = ids[at - 1];
                at--;
            }
            ids[at] = i;
        }
        for (int i = 0; i < n; i++) {
            values[i] = (float) (logits[offset + ids[i]] - logSum);
        }
        return new TokenLogprobs(token, (float) (logits[offset + token] - logSum), ids, values);
    }
}
