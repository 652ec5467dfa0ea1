package dev.jllm.chat;

import java.time.Duration;

/**
 * The bounds on rendering one chat template. Templates come from model files, that is from strangers: without bounds
 * a few lines of Jinja can run for minutes or fill the heap. Real chat templates stay far below every bound (the
 * longest prompt a 128K-token context holds is about 500,000 characters). A rendering that exceeds a bound stops at
 * once and fails with a message that names the bound ({@link ChatTemplateException.Kind#LIMIT}).
 */
public final class TemplateLimits {

    /** Characters of template source. */
    public static final int MAX_SOURCE_CHARS = 1_000_000;
    /**
     * Nesting depth, checked before parsing: brackets plus filters within one tag, and blocks ({@code if},
     * {@code for}, {@code macro}, ...) inside each other.
     */
    public static final int MAX_NESTING = 64;
    /** Characters of rendered output. */
    public static final long MAX_OUTPUT_CHARS = 4_000_000;
    /** Characters of any one string the template builds. */
    public static final long MAX_STRING_CHARS = 4_000_000;
    /** Items of any one list (or entries of a mapping) the template builds. */
    public static final int MAX_LIST_ITEMS = 100_000;
    /** Characters of all the strings and list items one rendering builds together (memory churn). */
    public static final long MAX_BUILT_TOTAL = 64_000_000;
    /** Iterations of all {@code for} loops of one rendering together. */
    public static final long MAX_LOOP_ITERATIONS = 1_000_000;
    /**
     * Heap allocated by one rendering (the rendering thread's count, which bounds its peak heap from above): the
     * interpreter's own work per loop step is not a string or list the template builds, so a long loop over a large
     * body churns memory that {@link #MAX_BUILT_TOTAL} does not see. Checked at every step the other bounds are.
     */
    public static final long MAX_ALLOCATED_BYTES = 256L << 20;
    /** Wall time of one rendering. */
    public static final Duration MAX_TIME = Duration.ofSeconds(5);

    private TemplateLimits() {
    }
}
