package dev.jllm.engine;



/**
 * Perplexity as llama.cpp's {@code llama-perplexity} computes it: the tokens are cut into chunks of the context size
 * (a partial last chunk is dropped), each chunk starts afresh with its first token replaced by BOS, and only the
 * second half of each chunk is scored, so every scored token has at least half a context of history.
 */
public final class Perplexity {

    /** The estimate after all chunks and the running estimate after each. */
    public record Result(double perplexity, double error, int chunks, int scoredTokens, double[] afterChunk) {
    }

    /** Progress of a perplexity run. */
    @FunctionalInterface
    public interface ChunkListener {
        void chunkDone(int chunk, double runningPerplexity);
    }

    private Perplexity() {
    }

    /**
     * @param tokens     the text's tokens (with BOS first if the model adds one)
     * @param contextSize chunk length
     * @param onChunk    told each chunk's number (from 1) and the running estimate as it finishes; may be null
     */
    public static Result compute(Model model, int[] tokens, int contextSize, dev.jllm.model.KvCache.Type cacheType,
            ChunkListener onChunk) {
        if (tokens.length < 2 * contextSize) {
            throw new IllegalArgumentException("perplexity needs at least " + 2 * contextSize + " tokens for a context of "
                    + contextSize + "; the text has " + tokens.length);
        }
        int chunks = tokens.length / contextSize;
        int first = contextSize / 2;
        int vocab = model.config().vocabSize();
        boolean addBos = model.tokenizer().addBosByDefault();
        Session session = model.newSession(SessionOptions.defaults(contextSize).withCacheType(cacheType));
        double nll = 0;
        double nll2 = 0;
        int count = 0;
        double[] after = new double[chunks];
        for (int c = 0; c < chunks; c++) {
            int start = c * contextSize;
            int[] chunk = java.util.Arrays.copyOfRange(tokens, start, start + contextSize);
            if (addBos) {
                chunk[0] = model.tokenizer().bosId();
            }
            session.reset();
            float[] logits = session.appendAll(chunk);
            for (int j = first; j < contextSize - 1; j++) {
                double logProb = logSoftmaxAt(logits, j * vocab, vocab, tokens[start + j + 1]);
                nll -= logProb;
                nll2 += logProb * logProb;
                count++;
            }
            after[c] = Math.exp(nll / count);
            if (onChunk != null) {
                onChunk.chunkDone(c + 1, after[c]);
            }
        }
        double mean = nll / count;
        double meanSquare = nll2 / count - mean * mean;
        double ppl = Math.exp(mean);
        double error = meanSquare > 0 ? Math.sqrt(meanSquare / (count - 1)) * ppl : 0;
        return new Result(ppl, error, chunks, count, after);
    }

    private static double logSoftmaxAt(float[] logits, int offset, int vocab, int target) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return logits[offset + target] - max - Math.log(sum);
    }
}
