package dev.jllm.sampling;

/**
 * A number added to one token's logit before any sampler runs (llama.cpp's {@code --logit-bias}); negative infinity
 * rules the token out.
 *
 * @param token the token id
 * @param bias  what is added to its logit: finite, or negative infinity
 */
public record LogitBias(int token, float bias) {

    public LogitBias {
        if (token < 0) {
            throw new IllegalArgumentException("logit bias: token id must be 0 or more, got " + token);
        }
        if (Float.isNaN(bias) || bias == Float.POSITIVE_INFINITY) {
            throw new IllegalArgumentException("logit bias: the bias of token " + token
                    + " must be a number or -inf, got " + bias);
        }
    }

    /**
     * llama.cpp's syntax {@code ID(+/-)BIAS}: {@code 15043+1}, {@code 15043-0.5}, {@code 2-inf} (never token 2).
     *
     * @throws IllegalArgumentException naming the value and the expected form
     */
    public static LogitBias parse(String value) {
        String v = value.strip();
        int digits = 0;
        while (digits < v.length() && Character.isDigit(v.charAt(digits))) {
            digits++;
        }
        if (digits == 0 || digits == v.length() || (v.charAt(digits) != '+' && v.charAt(digits) != '-')) {
            throw bad(value, "expected TOKEN_ID followed by + or - and a bias, such as 15043+1, 15043-0.5 or 2-inf");
        }
        int token;
        try {
            token = Integer.parseInt(v.substring(0, digits));
        } catch (NumberFormatException e) {
            throw bad(value, "the token id is too large");
        }
        String number = v.substring(digits + 1).strip();
        boolean negative = v.charAt(digits) == '-';
        if (number.startsWith("-") || number.startsWith("+")) { // 15043+-1, as llama.cpp's stof reads it
            negative ^= number.charAt(0) == '-';
            number = number.substring(1);
        }
        float magnitude;
        String lower = number.toLowerCase(java.util.Locale.ROOT);
        if (lower.equals("inf") || lower.equals("infinity")) {
            magnitude = Float.POSITIVE_INFINITY;
        } else {
            try {
                if (!number.matches("[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?|[0-9]+\\.")) {
                    throw new NumberFormatException();
                }
                magnitude = Float.parseFloat(number);
            } catch (NumberFormatException e) {
                throw bad(value, "'" + number + "' is not a number (or inf)");
            }
        }
        float bias = negative ? -magnitude : magnitude;
        if (bias == Float.POSITIVE_INFINITY) {
            throw bad(value, "+inf would make every other token impossible and the probabilities undefined;"
                    + " rule tokens out with -inf instead");
        }
        return new LogitBias(token, bias);
    }

    private static IllegalArgumentException bad(String value, String why) {
        return new IllegalArgumentException("--logit-bias '" + value + "': " + why);
    }
}
