package dev.jllm;

/**
 * Seeds for tests that draw random inputs. By default each call site has a fixed seed (from its name), so every run
 * checks the same inputs and a failure repeats. {@code -Djllm.test.randomSeed=true} draws a fresh seed at each call
 * and prints it, for an opt-in search over more inputs; {@code -Djllm.test.seed=N} replays one seed everywhere.
 * Failure messages of these tests include the seed.
 */
public final class TestSeeds {

    private TestSeeds() {
    }

    /** The seed for the random inputs of {@code where} (a stable name, such as the test's class and method). */
    public static long seed(String where) {
        String replay = System.getProperty("jllm.test.seed");
        if (replay != null) {
            return Long.parseLong(replay.strip());
        }
        if (Boolean.getBoolean("jllm.test.randomSeed")) {
            long seed = System.nanoTime();
            System.out.println("jllm.test.randomSeed: " + where + " uses seed " + seed + " (replay: -Djllm.test.seed="
                    + seed + ")");
            return seed;
        }
        return where.hashCode();
    }
}
