package dev.jllm.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.NullValue;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.objects.collections.PyList;
import com.hubspot.jinjava.objects.collections.PyMap;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.util.ScopeMap;
import java.beans.FeatureDescriptor;
import java.lang.reflect.Array;
import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.function.BiFunction;
import java.util.regex.Pattern;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.misc.NumberOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstIdentifier;
import jinjava.de.odysseus.el.tree.impl.ast.AstMethod;
import jinjava.de.odysseus.el.tree.impl.ast.AstParameters;
import jinjava.de.odysseus.el.tree.impl.ast.AstProperty;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * Jinja rendering as Hugging Face's {@code apply_chat_template} does it with Python Jinja2: jinjava configured with
 * {@code trim_blocks} and {@code lstrip_blocks}, one trailing newline of the source dropped, and the pieces of Python
 * that templates rely on added where jinjava differs: {@code tojson} as {@code json.dumps}, {@code raise_exception},
 * {@code strftime_now}, Python {@code str} and {@code dict} methods, {@code + } and {@code *} with Python's types and
 * errors, iteration over None failing, {@code {% filter %}} blocks, {@code items}, {@code indent} and {@code string}
 * as Jinja2 has them.
 */
final class JinjaEngine {

    /**
     * jinjava's filters that Jinja2 does not have: a template using one fails in transformers too, and some of them
     * reach further than a chat template should (parsing YAML, rendering strings as templates, regular expressions).
     */
    private static final java.util.Set<String> JINJAVA_ONLY_FILTERS = java.util.Set.of("add", "allow_snake_case",
            "b64decode", "b64encode", "between_times", "bool", "cut", "datetimeformat", "format_datetime", "difference",
            "divide", "divisible", "escapejs", "escapejson", "escape_jinjava", "format_currency", "format_date",
            "format_number", "format_time", "fromjson", "fromyaml", "intersect", "ipaddr", "ipv4", "ipv6", "log",
            "md5", "minus_time", "multiply", "plus_time", "regex_replace", "render", "root", "shuffle", "split",
            "strtodate", "strtotime", "symmetric_difference", "tostring", "toyaml", "truncatehtml", "unescape_html",
            "union", "unixtimestamp", "urldecode", "datetime", "totimestamp", "sort_by");

    private static final JinjaEngine INSTANCE = new JinjaEngine();
    private static final ThreadLocal<RenderState> STATE = new ThreadLocal<>();

    private final Jinjava jinjava;

    /** The result of Jinja2 filters that return generators ({@code map}, {@code select}, ...): a list otherwise. */
    static final class Generator extends ArrayList<Object> {
        Generator(Collection<?> items) {
            super(items);
        }
    }

    /** What a failure inside the engine was, as Python would name it; LIMIT: a bound of {@link TemplateLimits}. */
    enum FailureKind { RAISED, TYPE, UNDEFINED, SYNTAX, LIMIT }

    /**
     * A bound of {@link TemplateLimits} was exceeded. An Error rather than an exception, so that jinjava, which catches
     * exceptions to record them and render on, lets it through and the rendering stops at once.
     */
    static final class RenderLimitError extends Error {
        RenderLimitError(String message) {
            super(message, null, false, false);
        }
    }

    /** A failed rendering: the kind, and the message (the template's own for {@code raise_exception}). */
    static final class RenderFailure extends Exception {
        final FailureKind kind;

        RenderFailure(FailureKind kind, String message) {
            super(message, null, false, false);
            this.kind = kind;
        }
    }

    /**
     * Per-render state: the clock, the variables passed as None, the first failure of our own hooks, and what the
     * rendering has used of {@link TemplateLimits}.
     */
    private static final com.sun.management.ThreadMXBean ALLOCATIONS =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

    private static final class RenderState {
        final LocalDateTime now;
        final java.util.Set<String> noneVariables;
        final long deadline = System.nanoTime() + TemplateLimits.MAX_TIME.toNanos();
        final long allocatedBefore = ALLOCATIONS.getCurrentThreadAllocatedBytes();
        RenderFailure failure;
        int jinjavaErrorsBefore;
        long loopIterations;
        long built;
        RenderLimitError exceeded;

        RenderState(LocalDateTime now, java.util.Set<String> noneVariables) {
            this.now = now;
            this.noneVariables = noneVariables;
        }

        /** Throws (again, if jinjava swallowed it once) when a bound is exceeded or the time is up. */
        void check() {
            if (exceeded == null && System.nanoTime() - deadline > 0) {
                exceed("rendering time (" + TemplateLimits.MAX_TIME.toMillis() / 1000.0 + " s)", "the template ran longer");
            }
            if (exceeded == null
                    && ALLOCATIONS.getCurrentThreadAllocatedBytes() - allocatedBefore > TemplateLimits.MAX_ALLOCATED_BYTES) {
                exceed("heap allocated (" + (TemplateLimits.MAX_ALLOCATED_BYTES >> 20) + " MiB)",
                        "the rendering allocated more");
            }
            if (exceeded != null) {
                throw exceeded;
            }
        }

        RenderLimitError exceed(String bound, String what) {
            if (exceeded == null) {
                exceeded = new RenderLimitError("exceeds the bound on " + bound + ": " + what);
            }
            throw exceeded;
        }
    }

    // ---- bounds (TemplateLimits) ----

    /** Before building a string of {@code chars} characters. */
    static void checkString(long chars) {
        checkStringGrowth(chars, chars);
    }

    /** While a string grows (its characters are charged once it is complete): its size so far within the bound. */
    static void checkGrowingString(long chars) {
        checkStringGrowth(chars, 0);
    }

    private static void checkStringGrowth(long size, long added) {
        RenderState state = STATE.get();
        if (state == null) {
            return;
        }
        state.check();
        if (size > TemplateLimits.MAX_STRING_CHARS) {
            state.exceed("string size (" + TemplateLimits.MAX_STRING_CHARS + " characters)", "a string of " + size
                    + " characters");
        }
        charge(state, added);
    }

    /** Before building a list (or mapping) of {@code items} items. */
    static void checkList(long items) {
        checkListGrowth(items, items);
    }

    /** Before a list grows to {@code size} items by adding {@code added}. */
    static void checkListGrowth(long size, long added) {
        RenderState state = STATE.get();
        if (state == null) {
            return;
        }
        state.check();
        if (size > TemplateLimits.MAX_LIST_ITEMS) {
            state.exceed("list size (" + TemplateLimits.MAX_LIST_ITEMS + " items)", "a list of " + size + " items");
        }
        charge(state, added);
    }

    private static void charge(RenderState state, long amount) {
        state.built += amount;
        if (state.built > TemplateLimits.MAX_BUILT_TOTAL) {
            state.exceed("everything built in one rendering (" + TemplateLimits.MAX_BUILT_TOTAL
                    + " characters and list items)", "the template built more");
        }
    }

    /** Between steps of the rendering: the time bound, and a bound exceeded earlier. */
    static void checkTime() {
        RenderState state = STATE.get();
        if (state != null) {
            state.check();
        }
    }

    private static void loopIteration() {
        RenderState state = STATE.get();
        if (state == null) {
            return;
        }
        state.check();
        if (++state.loopIterations > TemplateLimits.MAX_LOOP_ITERATIONS) {
            state.exceed("loop iterations (" + TemplateLimits.MAX_LOOP_ITERATIONS + " in all)", "the loops ran longer");
        }
    }

    /** The size of a value the template made (a filter's result): strings and collections within their bounds. */
    private static Object checked(Object result) {
        Object plain = unwrap(result);
        if (plain instanceof CharSequence s) {
            checkString(s.length());
        } else if (plain instanceof Collection<?> c) {
            checkList(c.size());
        } else if (plain instanceof Map<?, ?> m) {
            checkList(m.size());
        }
        return result;
    }

    private JinjaEngine() {
        ELResolver resolver = new CompositeELResolver();
        ((CompositeELResolver) resolver).add(new PythonMethodResolver());
        ((CompositeELResolver) resolver).add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withKeepTrailingNewline(true) // Jinja2 drops the newline from the source, not the output: done below
                .withElResolver(resolver)
                .withNestedInterpretationEnabled(false) // a message containing "{{" is text, never a template
                .withInterperterFactory(new PythonInterpreterFactory())
                .withMaxOutputSize(TemplateLimits.MAX_OUTPUT_CHARS)
                .withMaxStringLength(TemplateLimits.MAX_STRING_CHARS)
                .withMaxListSize(TemplateLimits.MAX_LIST_ITEMS)
                .withMaxMapSize(TemplateLimits.MAX_LIST_ITEMS)
                .withNodePreProcessor((node, interpreter) -> checkTime())
                .withDisabled(Map.of(Context.Library.FILTER, JINJAVA_ONLY_FILTERS))
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withAllowAdjacentTextNodes(true)
                        .withKeepNullableLoopValues(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .build())
                .build();
        jinjava = new PythonJinjava(config);
        Context globals = jinjava.getGlobalContext();
        globals.registerFunction(new ELFunctionDefinition("", "raise_exception", JinjaEngine.class, "raiseException",
                Object.class));
        globals.registerFunction(new ELFunctionDefinition("", "strftime_now", JinjaEngine.class, "strftimeNow",
                Object.class));
        registerFilters(globals);
        boundFilters(globals);
        registerTests(globals);
        globals.registerTag(new PythonForTag());
        globals.registerTag(new FilterBlockTag());
        globals.registerTag(new GenerationTag());
    }

    static JinjaEngine get() {
        return INSTANCE;
    }

    /**
     * Renders {@code source} with {@code variables} (plain Java values: maps, lists, strings, numbers, booleans,
     * null for None); {@code strftime_now} reads {@code now}.
     */
    String render(String source, Map<String, Object> variables, LocalDateTime now) throws RenderFailure {
        if (!Thread.currentThread().isVirtual()) {
            return renderHere(source, variables, now);
        }
        // The heap bound reads the rendering thread's allocation count, which the JVM keeps for platform threads only
        // (a virtual thread reads -1): the server's request threads hand the rendering to one.
        java.util.concurrent.Future<String> rendering = RENDERERS.submit(() -> renderHere(source, variables, now));
        try {
            return rendering.get();
        } catch (java.util.concurrent.ExecutionException e) {
            switch (e.getCause()) {
                case RenderFailure f -> throw f;
                case RuntimeException r -> throw r;
                case Error r -> throw r;
                default -> throw new IllegalStateException(e.getCause());
            }
        } catch (InterruptedException e) {
            rendering.cancel(true);
            Thread.currentThread().interrupt();
            throw new RenderFailure(FailureKind.LIMIT, "the rendering was interrupted");
        }
    }

    /** Platform threads for renderings asked for on virtual threads; idle ones end after a minute. */
    private static final java.util.concurrent.ExecutorService RENDERERS =
            java.util.concurrent.Executors.newCachedThreadPool(Thread.ofPlatform().daemon().name("jllm-template-", 0)
                    .factory());

    private String renderHere(String source, Map<String, Object> variables, LocalDateTime now) throws RenderFailure {
        if (source.length() > TemplateLimits.MAX_SOURCE_CHARS) {
            throw new RenderFailure(FailureKind.LIMIT, "exceeds the bound on template size (" + TemplateLimits.MAX_SOURCE_CHARS
                    + " characters): the source has " + source.length());
        }
        String tooDeep = TemplateNesting.exceeded(source, TemplateLimits.MAX_NESTING);
        if (tooDeep != null) {
            throw new RenderFailure(FailureKind.LIMIT, "exceeds the bound on nesting (" + TemplateLimits.MAX_NESTING
                    + " levels): " + tooDeep);
        }
        java.util.Set<String> none = new LinkedHashSet<>();
        variables.forEach((k, v) -> {
            if (v == null) {
                none.add(k);
            }
        });
        RenderState state = new RenderState(now, none);
        RenderState previous = STATE.get();
        STATE.set(state);
        RenderResult result;
        try {
            result = jinjava.renderForResult(pythonSource(source), new LinkedHashMap<>(variables));
        } catch (RenderLimitError e) {
            throw new RenderFailure(FailureKind.LIMIT, e.getMessage());
        } catch (StackOverflowError e) {
            throw new RenderFailure(FailureKind.LIMIT, "exceeds the bound on nesting: the template recursed too deeply");
        } finally {
            if (previous == null) {
                STATE.remove();
            } else {
                STATE.set(previous);
            }
        }
        if (state.exceeded != null) {
            throw new RenderFailure(FailureKind.LIMIT, state.exceeded.getMessage());
        }
        List<TemplateError> errors = result.getErrors();
        for (TemplateError e : errors) {
            String bound = switch (e.getReason()) {
                case OUTPUT_TOO_BIG -> "output size (" + TemplateLimits.MAX_OUTPUT_CHARS + " characters)";
                case COLLECTION_TOO_BIG -> "list size (" + TemplateLimits.MAX_LIST_ITEMS + " items)";
                default -> null;
            };
            for (Throwable cause = e.getException(); cause != null && bound == null; cause = cause.getCause()) {
                if (cause instanceof com.hubspot.jinjava.interpret.OutputTooBigException) {
                    bound = "string size (" + TemplateLimits.MAX_STRING_CHARS + " characters)";
                } else if (cause instanceof com.hubspot.jinjava.interpret.CollectionTooBigException) {
                    bound = "list size (" + TemplateLimits.MAX_LIST_ITEMS + " items)";
                }
            }
            if (bound != null) {
                throw new RenderFailure(FailureKind.LIMIT, "exceeds the bound on " + bound + ": " + describe(e));
            }
        }
        for (int i = 0; i < errors.size(); i++) {
            if (state.failure != null && i >= state.jinjavaErrorsBefore) {
                break;
            }
            TemplateError e = errors.get(i);
            if (isFailure(e)) {
                throw new RenderFailure(FailureKind.SYNTAX, describe(e));
            }
        }
        if (state.failure != null) {
            throw state.failure;
        }
        return result.getOutput();
    }

    /** Jinja2's lexer: every newline sequence becomes {@code \n}, and one trailing newline is dropped. */
    static String pythonSource(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    private static boolean isFailure(TemplateError e) {
        return e.getSeverity() == TemplateError.ErrorType.FATAL
                || e.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR;
    }

    private static String describe(TemplateError e) {
        String message = Objects.toString(e.getMessage(), "error").replace('\n', ' ').strip();
        return e.getLineno() > 0 ? message + " (line " + e.getLineno() + ")" : message;
    }

    /** Records a failure of our own hooks (the first one wins, as Python stops there) and returns it to throw. */
    private static RuntimeException fail(FailureKind kind, String message) {
        RenderState state = STATE.get();
        if (state != null && state.failure == null) {
            state.failure = new RenderFailure(kind, message);
            state.jinjavaErrorsBefore = JinjavaInterpreter.getCurrentMaybe().map(i -> i.getErrorsCopy().size()).orElse(0);
        }
        return new TemplateTypeError(message);
    }

    static RuntimeException typeError(String message) {
        return fail(FailureKind.TYPE, message);
    }

    // ---- globals ----

    /** {@code raise_exception(message)}: transformers raises TemplateError(message). */
    public static Object raiseException(Object message) {
        throw fail(FailureKind.RAISED, PythonValues.str(message));
    }

    /** {@code strftime_now(format)}: the clock of this rendering, formatted by Python's strftime codes. */
    public static String strftimeNow(Object format) {
        RenderState state = STATE.get();
        return strftime(state != null ? state.now : LocalDateTime.now(), PythonValues.str(format));
    }

    static String strftime(LocalDateTime t, String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                out.append(c);
                continue;
            }
            char code = format.charAt(++i);
            boolean noPad = false;
            if (code == '-' && i + 1 < format.length()) {
                noPad = true;
                code = format.charAt(++i);
            }
            String two = noPad ? "%d" : "%02d";
            switch (code) {
                case 'a' -> out.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> out.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b', 'h' -> out.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> out.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'd' -> out.append(String.format(two, t.getDayOfMonth()));
                case 'e' -> out.append(String.format("%2d", t.getDayOfMonth()));
                case 'm' -> out.append(String.format(two, t.getMonthValue()));
                case 'y' -> out.append(String.format(two, t.getYear() % 100));
                case 'Y' -> out.append(t.getYear());
                case 'H' -> out.append(String.format(two, t.getHour()));
                case 'I' -> out.append(String.format(two, (t.getHour() + 11) % 12 + 1));
                case 'M' -> out.append(String.format(two, t.getMinute()));
                case 'S' -> out.append(String.format(two, t.getSecond()));
                case 'p' -> out.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> out.append(String.format(noPad ? "%d" : "%03d", t.getDayOfYear()));
                case 'f' -> out.append(String.format("%06d", t.getNano() / 1000));
                case 'w' -> out.append(t.getDayOfWeek().getValue() % 7);
                case 'u' -> out.append(t.getDayOfWeek().getValue());
                case 'F' -> out.append(String.format("%d-%02d-%02d", t.getYear(), t.getMonthValue(), t.getDayOfMonth()));
                case 'D' -> out.append(String.format("%02d/%02d/%02d", t.getMonthValue(), t.getDayOfMonth(), t.getYear() % 100));
                case 'T' -> out.append(String.format("%02d:%02d:%02d", t.getHour(), t.getMinute(), t.getSecond()));
                case 'z', 'Z' -> { } // a naive datetime has no zone: Python prints nothing
                case '%' -> out.append('%');
                default -> out.append('%').append(noPad ? "-" : "").append(code);
            }
        }
        return out.toString();
    }

    // ---- values ----

    /** jinjava's wrappers back to plain values: SafeString to String, PyList/PyMap to their contents. */
    static Object unwrap(Object o) {
        if (o instanceof SafeString s) {
            return s.getValue();
        }
        if (o instanceof PyList l) {
            return l.toList();
        }
        if (o instanceof PyMap m) {
            return m.toMap();
        }
        if (o instanceof NullValue || o == DEFINED_NONE) {
            return null;
        }
        return o;
    }

    private static boolean isString(Object o) {
        return o instanceof CharSequence;
    }

    private static boolean isInteger(Object o) {
        return o instanceof Long || o instanceof Integer || o instanceof Short || o instanceof Byte
                || o instanceof java.math.BigInteger;
    }

    /** Python's {@code +}: strings with strings, lists with lists, numbers with numbers; anything else is a TypeError. */
    static final class PythonAdd extends AstBinary.SimpleOperator {
        static final PythonAdd OP = new PythonAdd();

        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object a = left.eval(bindings, context);
            Object b = right.eval(bindings, context);
            checkDefined(left, a);
            checkDefined(right, b);
            return apply(bindings, a, b);
        }

        @Override
        protected Object apply(TypeConverter converter, Object left, Object right) {
            Object a = unwrap(left);
            Object b = unwrap(right);
            if (isString(a) && isString(b)) {
                checkString((long) a.toString().length() + b.toString().length());
                boolean leftMarkup = left instanceof SafeString;
                boolean rightMarkup = right instanceof SafeString;
                if (leftMarkup || rightMarkup) {
                    // markupsafe: Markup + str escapes the str, and the result stays Markup
                    return new SafeString((leftMarkup ? a.toString() : escapeHtml(a.toString()))
                            + (rightMarkup ? b.toString() : escapeHtml(b.toString())));
                }
                return a.toString() + b;
            }
            if (a instanceof List<?> x && b instanceof List<?> y) {
                checkList((long) x.size() + y.size());
                List<Object> sum = new ArrayList<>(x);
                sum.addAll(y);
                return sum;
            }
            if (a instanceof Number && b instanceof Number) {
                return NumberOperations.add(converter, a, b);
            }
            if (isString(a)) {
                throw typeError("can only concatenate str (not \"" + PythonValues.typeName(b) + "\") to str");
            }
            if (a instanceof List<?>) {
                throw typeError("can only concatenate list (not \"" + PythonValues.typeName(b) + "\") to list");
            }
            throw typeError("unsupported operand type(s) for +: '" + PythonValues.typeName(a) + "' and '"
                    + PythonValues.typeName(b) + "'");
        }

        @Override
        public String toString() {
            return "+";
        }
    }

    /** Jinja2's UndefinedError for a name that no scope holds (a null that is not None) used in arithmetic. */
    private static void checkDefined(AstNode node, Object value) {
        if (value == null && node instanceof AstIdentifier id && !defined(id.getName())) {
            throw fail(FailureKind.UNDEFINED, "'" + id.getName() + "' is undefined");
        }
    }

    private static boolean defined(String name) {
        JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
        if (interpreter != null) {
            for (ScopeMap<String, Object> scope = interpreter.getContext(); scope != null; scope = scope.getParent()) {
                if (scope.getScope().containsKey(name)) {
                    return true;
                }
            }
        }
        RenderState state = STATE.get();
        return state != null && state.noneVariables.contains(name);
    }

    /** markupsafe's {@code escape}. */
    static String escapeHtml(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '\'' -> out.append("&#39;");
                case '"' -> out.append("&#34;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    /** Python's {@code *}: repetition of a string or list by an integer, otherwise multiplication of numbers. */
    static final class PythonMultiply extends AstBinary.SimpleOperator {
        static final PythonMultiply OP = new PythonMultiply();

        @Override
        protected Object apply(TypeConverter converter, Object left, Object right) {
            Object a = unwrap(left);
            Object b = unwrap(right);
            if (isInteger(b) && (isString(a) || a instanceof List<?>)) {
                return repeat(a, repeats((Number) b));
            }
            if (isInteger(a) && (isString(b) || b instanceof List<?>)) {
                return repeat(b, repeats((Number) a));
            }
            if (a instanceof Number && b instanceof Number) {
                return NumberOperations.mul(converter, a, b);
            }
            throw typeError("unsupported operand type(s) for *: '" + PythonValues.typeName(a) + "' and '"
                    + PythonValues.typeName(b) + "'");
        }

        private static Object repeat(Object value, long times) {
            if (value instanceof List<?> list) {
                checkList(list.size() * Math.max(0, times));
                List<Object> out = new ArrayList<>();
                for (int i = 0; i < times; i++) {
                    out.addAll(list);
                }
                return out;
            }
            checkString(value.toString().length() * Math.max(0, times));
            return value.toString().repeat((int) Math.max(0, times));
        }

        /** The count, saturated so that a huge one still fails the size bound rather than wrapping around. */
        private static long repeats(Number n) {
            if (n instanceof java.math.BigInteger big) {
                return big.bitLength() > 31 ? (big.signum() > 0 ? Integer.MAX_VALUE : 0) : big.longValue();
            }
            return Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, n.longValue()));
        }

        @Override
        public String toString() {
            return "*";
        }
    }

    /** Interpreters that print values as Python's {@code str} does (True, 1.0, {'a': 1}); None and undefined print nothing. */
    private static final class PythonInterpreterFactory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new PythonInterpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig config) {
            return new PythonInterpreter(application, context, config);
        }
    }

    private static final class PythonInterpreter extends JinjavaInterpreter {
        PythonInterpreter(JinjavaInterpreter orig) {
            super(orig);
        }

        PythonInterpreter(Jinjava application, Context context, JinjavaConfig config) {
            super(application, context, config);
        }

        @Override
        public String getAsString(Object object) {
            Object plain = unwrap(object);
            return plain == null ? "" : PythonValues.str(plain);
        }
    }

    /** Builds expression parsers that use the Python operators. */
    public static final class PythonSyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        public PythonSyntaxBuilder() {
            super();
        }

        public PythonSyntaxBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new ExtendedParser(this, expression) {
                @Override
                protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
                    if (operator == AdditionOperator.OP) {
                        operator = PythonAdd.OP;
                    } else if (operator == AstBinary.MUL) {
                        operator = PythonMultiply.OP;
                    }
                    return super.createAstBinary(left, right, operator);
                }

                @Override
                protected AstMethod createAstMethod(AstProperty property, AstParameters params) {
                    // "x is defined": a variable passed as None is defined in Jinja2 (jinjava sees only null)
                    if (property.getChild(0) instanceof AstIdentifier test
                            && (test.getName().equals(EXPTEST_PREFIX + "defined")
                                    || test.getName().equals(EXPTEST_PREFIX + "undefined"))
                            && params.getCardinality() > 0 && params.getChild(0).getClass() == AstIdentifier.class) {
                        AstIdentifier operand = (AstIdentifier) params.getChild(0);
                        List<AstNode> children = new ArrayList<>();
                        children.add(new NoneAwareIdentifier(operand.getName(), operand.getIndex()));
                        for (int i = 1; i < params.getCardinality(); i++) {
                            children.add(params.getChild(i));
                        }
                        params = new AstParameters(children);
                    }
                    return super.createAstMethod(property, params);
                }
            };
        }
    }

    /** A defined variable whose value is None, as the {@code defined} tests see it. */
    static final Object DEFINED_NONE = new Object() {
        @Override
        public String toString() {
            return "None";
        }
    };

    /** A variable that evaluates to {@link #DEFINED_NONE} rather than null when it is bound to None. */
    private static final class NoneAwareIdentifier extends AstIdentifier {
        NoneAwareIdentifier(String name, int index) {
            super(name, index);
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            Object value = super.eval(bindings, context);
            return value == null && (defined(getName()) || GLOBAL_FUNCTIONS.contains(getName())) ? DEFINED_NONE : value;
        }
    }

    /**
     * The functions transformers passes as globals: Jinja2 finds them defined, so Llama 3.2's
     * {@code strftime_now is defined} takes today's date rather than its fallback.
     */
    private static final java.util.Set<String> GLOBAL_FUNCTIONS = java.util.Set.of("raise_exception", "strftime_now");

    /** jinjava with our expression parser. */
    private static final class PythonJinjava extends Jinjava {
        private final ExpressionFactory expressions;

        PythonJinjava(JinjavaConfig config) {
            super(config);
            Properties properties = new Properties();
            properties.setProperty(TreeBuilder.class.getName(), PythonSyntaxBuilder.class.getName());
            expressions = new ExpressionFactoryImpl(properties, new TruthyTypeConverter());
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressions;
        }
    }

    /** Python methods of {@code str} and {@code dict}, looked up before jinjava's Java-bean methods. */
    private static final class PythonMethodResolver extends ELResolver {

        /** Python's dict and list methods that jinjava's own PyMap and PyList provide. */
        private static final java.util.Set<String> DICT_METHODS = java.util.Set.of("update", "pop", "setdefault", "copy",
                "clear", "popitem");
        private static final java.util.Set<String> LIST_METHODS = java.util.Set.of("append", "extend", "insert", "pop",
                "remove", "index", "count", "reverse", "sort", "copy", "clear");

        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
            Object[] args = params == null ? new Object[0] : params;
            String name = Objects.toString(method);
            Object value = unwrap(base);
            Object result = PythonStrings.UNKNOWN;
            if (value instanceof CharSequence s) {
                result = PythonStrings.call(s.toString(), name, args);
            } else if (value instanceof Map<?, ?> map) {
                result = switch (name) {
                    case "get" -> map.containsKey(unwrap(args[0])) ? map.get(unwrap(args[0])) : args.length > 1 ? args[1] : null;
                    case "items" -> items(map);
                    case "keys" -> new ArrayList<>(map.keySet());
                    case "values" -> new ArrayList<>(map.values());
                    default -> PythonStrings.UNKNOWN;
                };
            } else if (value instanceof List<?> list) {
                long added = switch (name) {
                    case "append", "insert" -> 1;
                    case "extend" -> args.length > 0 && unwrap(args[0]) instanceof Collection<?> more ? more.size() : 0;
                    default -> 0;
                };
                checkListGrowth(list.size() + added, added);
            }
            if (result == PythonStrings.UNKNOWN) {
                // Only Python's methods: Java's (String.repeat, List.addAll, ...) would bypass every bound.
                String pythonType = value instanceof CharSequence ? "str" : value instanceof Map<?, ?> ? "dict"
                        : value instanceof List<?> ? "list" : null;
                java.util.Set<String> allowed = value instanceof Map<?, ?> ? DICT_METHODS
                        : value instanceof List<?> ? LIST_METHODS : java.util.Set.of();
                if (pythonType != null && !allowed.contains(name)) {
                    throw fail(FailureKind.UNDEFINED, "'" + pythonType + " object' has no attribute '" + name + "'");
                }
                return null;
            }
            context.setPropertyResolved(true);
            return result;
        }

        @Override
        public Object getValue(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public Class<?> getType(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public void setValue(ELContext context, Object base, Object property, Object value) {
        }

        @Override
        public boolean isReadOnly(ELContext context, Object base, Object property) {
            return true;
        }

        @Override
        public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
            return null;
        }

        @Override
        public Class<?> getCommonPropertyType(ELContext context, Object base) {
            return null;
        }
    }

    static List<Object> items(Map<?, ?> map) {
        List<Object> pairs = new ArrayList<>();
        map.forEach((k, v) -> pairs.add(Arrays.asList(k, v)));
        return pairs;
    }

    // ---- filters ----

    /** A filter written as a function of (value, positional args, keyword args). */
    private record PythonFilter(String name, FilterFunction function) implements AdvancedFilter {
        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return function.apply(var, args == null ? new Object[0] : args, kwargs == null ? Map.of() : kwargs);
        }

        @Override
        public String getName() {
            return name;
        }
    }

    @FunctionalInterface
    private interface FilterFunction {
        Object apply(Object value, Object[] args, Map<String, Object> kwargs);
    }

    private static Object arg(Object[] args, Map<String, Object> kwargs, int index, String name, Object otherwise) {
        if (kwargs.containsKey(name)) {
            return unwrap(kwargs.get(name));
        }
        return args.length > index ? unwrap(args[index]) : otherwise;
    }

    private static boolean truthy(Object o) {
        o = unwrap(o);
        if (o == null) {
            return false;
        }
        if (o instanceof Boolean b) {
            return b;
        }
        if (o instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (o instanceof CharSequence s) {
            return !s.isEmpty();
        }
        if (o instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (o instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    private void registerFilters(Context globals) {
        globals.registerFilter(new PythonFilter("tojson", (value, args, kwargs) -> {
            // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
            Object indent = arg(args, kwargs, 1, "indent", null);
            if (truthy(arg(args, kwargs, 3, "sort_keys", false))) {
                value = sortKeys(unwrap(value));
            }
            String json = PythonValues.toJson(value, indent);
            if (truthy(arg(args, kwargs, 0, "ensure_ascii", false))) {
                json = asciiOnly(json);
            }
            return json;
        }));
        globals.registerFilter(new PythonFilter("trim", (value, args, kwargs) -> {
            Object chars = arg(args, kwargs, 0, "chars", null);
            return PythonStrings.strip(PythonValues.str(value), chars == null ? null : chars.toString(), true, true);
        }));
        globals.registerFilter(new PythonFilter("items", (value, args, kwargs) -> {
            Object v = unwrap(value);
            if (v == null) {
                return new Generator(List.of());
            }
            if (!(v instanceof Map<?, ?> map)) {
                throw typeError("Can only get item pairs from a mapping.");
            }
            return new Generator(items(map));
        }));
        globals.registerFilter(new PythonFilter("string", (value, args, kwargs) -> PythonValues.str(value)));
        globals.registerFilter(new PythonFilter("indent", (value, args, kwargs) -> indent(PythonValues.str(value),
                arg(args, kwargs, 0, "width", 4L), truthy(arg(args, kwargs, 1, "first", false)),
                truthy(arg(args, kwargs, 2, "blank", false)))));
        globals.registerFilter(new PythonFilter("list", (value, args, kwargs) -> toList(value)));
        for (String name : new String[] {"map", "select", "reject", "selectattr", "rejectattr", "unique"}) {
            Filter original = globals.getFilter(name);
            globals.registerFilter(new AdvancedFilter() {
                @Override
                public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
                    Object result = original instanceof AdvancedFilter advanced
                            ? advanced.filter(var, interpreter, args, kwargs)
                            : original.filter(var, interpreter, Arrays.stream(args).map(a -> a == null ? null : a.toString())
                                    .toArray(String[]::new));
                    Object plain = unwrap(result);
                    return plain instanceof Collection<?> c ? new Generator(c) : result;
                }

                @Override
                public String getName() {
                    return name;
                }
            });
        }
    }

    /**
     * Every filter checks the time before it runs and the size of what it made; those whose arguments say how much
     * they will build ({@code center}, {@code batch}, {@code slice}, {@code format}) check that first.
     */
    private static void boundFilters(Context globals) {
        for (Filter original : List.copyOf(globals.getAllFilters())) {
            String name = original.getName();
            globals.registerFilter(new AdvancedFilter() {
                @Override
                public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
                    checkTime();
                    Object[] positional = args == null ? new Object[0] : args;
                    switch (name) {
                        case "center" -> checkString(number(positional, 0) + PythonValues.str(var).length());
                        case "batch" -> checkList(number(positional, 0));
                        case "slice" -> checkList(number(positional, 0));
                        case "format" -> checkString(formatWidths(PythonValues.str(var)));
                        default -> { }
                    }
                    return checked(original.filter(var, interpreter, positional, kwargs == null ? Map.of() : kwargs));
                }

                @Override
                public String getName() {
                    return name;
                }
            });
        }
    }

    private static long number(Object[] args, int index) {
        Object v = args.length > index ? unwrap(args[index]) : null;
        if (v instanceof Number n) {
            return Math.max(0, n.longValue());
        }
        try {
            return v == null ? 0 : Math.max(0, (long) Double.parseDouble(v.toString().strip()));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static final Pattern FORMAT_WIDTH = Pattern.compile("%[-#+ 0,(<]*(\\d+)?(?:\\.(\\d+))?");

    /** The characters the widths and precisions of a {@code %} format string can add. */
    static long formatWidths(String format) {
        long total = format.length();
        var m = FORMAT_WIDTH.matcher(format);
        while (m.find()) {
            for (int group = 1; group <= 2; group++) {
                String digits = m.group(group);
                if (digits != null) {
                    total += digits.length() > 12 ? Long.MAX_VALUE / 4 : Long.parseLong(digits);
                }
            }
        }
        return total;
    }

    private static Object sortKeys(Object value) {
        value = unwrap(value);
        if (value instanceof Map<?, ?> map) {
            Map<Object, Object> sorted = new java.util.TreeMap<>((a, b) -> String.valueOf(a).compareTo(String.valueOf(b)));
            map.forEach((k, v) -> sorted.put(k, sortKeys(v)));
            return new LinkedHashMap<>(sorted);
        }
        if (value instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>();
            c.forEach(o -> out.add(sortKeys(o)));
            return out;
        }
        return value;
    }

    private static String asciiOnly(String json) {
        StringBuilder out = new StringBuilder(json.length());
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            if (c < 0x80) {
                out.append(c);
            } else {
                out.append(String.format("\\u%04x", (int) c));
            }
        }
        return out.toString();
    }

    private static List<Object> toList(Object value) {
        Object v = unwrap(value);
        if (v == null) {
            throw typeError("'NoneType' object is not iterable");
        }
        if (v instanceof Map<?, ?> m) {
            return new ArrayList<>(m.keySet());
        }
        if (v instanceof Collection<?> c) {
            return new ArrayList<>(c);
        }
        if (v instanceof CharSequence s) {
            checkList(s.length());
            List<Object> chars = new ArrayList<>();
            s.codePoints().forEach(cp -> chars.add(Character.toString(cp)));
            return chars;
        }
        if (v.getClass().isArray()) {
            List<Object> out = new ArrayList<>();
            for (int i = 0; i < Array.getLength(v); i++) {
                out.add(Array.get(v, i));
            }
            return out;
        }
        throw typeError("'" + PythonValues.typeName(v) + "' object is not iterable");
    }

    /** Jinja2's {@code indent(s, width=4, first=False, blank=False)}. */
    static String indent(String s, Object width, boolean first, boolean blank) {
        long widthChars = width instanceof Number n ? Math.max(0, Math.min(Integer.MAX_VALUE, n.longValue()))
                : String.valueOf(width).length();
        checkString(widthChars + s.length());
        String indention = width instanceof Number ? " ".repeat((int) widthChars) : String.valueOf(width);
        List<String> lines = splitLines(s + "\n");
        checkString(s.length() + (lines.size() + 1) * widthChars);
        StringBuilder out = new StringBuilder();
        if (blank) {
            out.append(String.join("\n" + indention, lines));
        } else {
            out.append(lines.isEmpty() ? "" : lines.get(0));
            for (int i = 1; i < lines.size(); i++) {
                out.append('\n');
                if (!lines.get(i).isEmpty()) {
                    out.append(indention);
                }
                out.append(lines.get(i));
            }
        }
        return first ? indention + out : out.toString();
    }

    private static final Pattern LINE_BREAK = Pattern.compile("\r\n|[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]");

    /** Python's {@code str.splitlines()}. */
    private static List<String> splitLines(String s) {
        List<String> lines = new ArrayList<>();
        var m = LINE_BREAK.matcher(s);
        int from = 0;
        while (m.find()) {
            lines.add(s.substring(from, m.start()));
            from = m.end();
        }
        if (from < s.length()) {
            lines.add(s.substring(from));
        }
        return lines;
    }

    // ---- tests ----

    private record PythonTest(String name, BiFunction<Object, Object[], Boolean> test) implements ExpTest {
        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return test.apply(unwrap(var), args);
        }

        @Override
        public String getName() {
            return name;
        }
    }

    /** {@code defined}/{@code undefined} on the raw value: {@link #DEFINED_NONE} is a None that is defined. */
    private record DefinedTest(String name, boolean defined) implements ExpTest {
        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            boolean isDefined = var != null; // NullValue too: a loop variable bound to None
            return isDefined == defined;
        }

        @Override
        public String getName() {
            return name;
        }
    }

    private static void registerTests(Context globals) {
        globals.registerExpTest(new DefinedTest("defined", true));
        globals.registerExpTest(new DefinedTest("undefined", false));
        globals.registerExpTest(new PythonTest("iterable", (v, args) -> v instanceof Iterable<?> || v instanceof Map<?, ?>
                || v instanceof CharSequence || (v != null && v.getClass().isArray())));
        globals.registerExpTest(new PythonTest("mapping", (v, args) -> v instanceof Map<?, ?>));
        globals.registerExpTest(new PythonTest("string", (v, args) -> v instanceof CharSequence));
        globals.registerExpTest(new PythonTest("sequence", (v, args) -> v instanceof Collection<?> || v instanceof Map<?, ?>
                || v instanceof CharSequence));
        globals.registerExpTest(new PythonTest("float", (v, args) -> v instanceof Double || v instanceof Float));
        globals.registerExpTest(new PythonTest("integer", (v, args) -> isInteger(v)));
        globals.registerExpTest(new PythonTest("number", (v, args) -> v instanceof Number));
        globals.registerExpTest(new PythonTest("boolean", (v, args) -> v instanceof Boolean));
    }

    // ---- tags ----

    /** {@code for}: as jinjava's, but iterating over None or a number fails as in Python. */
    private static final class PythonForTag extends ForTag {
        private static final long serialVersionUID = 1L;
        private static final Pattern PATH = Pattern.compile("[A-Za-z_][A-Za-z_0-9]*(\\.[A-Za-z_][A-Za-z_0-9]*|\\[(['\"])[^'\"]*\\3\\])*");

        @Override
        public String interpretUnchecked(TagNode tagNode, JinjavaInterpreter interpreter) {
            var varsAndExpression = getLoopVarsAndExpression((com.hubspot.jinjava.tree.parse.TagToken) tagNode.getMaster());
            String expression = varsAndExpression.getRight().strip();
            Object collection = interpreter.resolveELExpression(expression, tagNode.getLineNumber());
            Object plain = unwrap(collection);
            if (plain == null && boundToNone(expression, interpreter)) {
                throw typeError("'NoneType' object is not iterable");
            }
            if (plain instanceof Number || plain instanceof Boolean) {
                throw typeError("'" + PythonValues.typeName(plain) + "' object is not iterable");
            }
            return renderForCollection(tagNode, interpreter, varsAndExpression.getLeft(), counted(collection));
        }

        /** The collection jinjava would iterate, with each step counted against the loop bound. */
        @SuppressWarnings("unchecked")
        private static Object counted(Object collection) {
            Collection<Object> items;
            if (collection instanceof Map<?, ?> map) {
                items = (Collection<Object>) map.keySet(); // iterateOverMapKeys, as Jinja2
            } else if (collection instanceof Collection<?> c) {
                items = (Collection<Object>) c;
            } else if (collection != null && collection.getClass().isArray() && collection instanceof Object[] array) {
                items = Arrays.asList(array);
            } else if (collection instanceof Iterable<?> iterable) {
                return (Iterable<Object>) () -> countedIterator(iterable.iterator());
            } else {
                return collection;
            }
            return new java.util.AbstractCollection<Object>() {
                @Override
                public Iterator<Object> iterator() {
                    return countedIterator(items.iterator());
                }

                @Override
                public int size() {
                    return items.size();
                }
            };
        }

        private static Iterator<Object> countedIterator(Iterator<?> it) {
            return new Iterator<>() {
                @Override
                public boolean hasNext() {
                    return it.hasNext();
                }

                @Override
                public Object next() {
                    loopIteration();
                    return it.next();
                }
            };
        }

        /** Whether a null value is Python's None (a variable or key that exists) rather than an undefined name. */
        private static boolean boundToNone(String expression, JinjavaInterpreter interpreter) {
            if (!PATH.matcher(expression).matches()) {
                return false;
            }
            List<String> path = new ArrayList<>();
            var m = Pattern.compile("[A-Za-z_][A-Za-z_0-9]*|\\[(['\"])([^'\"]*)\\1\\]").matcher(expression);
            while (m.find()) {
                path.add(m.group(2) != null ? m.group(2) : m.group());
            }
            String head = path.get(0);
            Object current = null;
            boolean found = false;
            for (ScopeMap<String, Object> scope = interpreter.getContext(); scope != null; scope = scope.getParent()) {
                if (scope.getScope().containsKey(head)) {
                    current = scope.getScope().get(head);
                    found = true;
                    break;
                }
            }
            if (!found) {
                RenderState state = STATE.get();
                return path.size() == 1 && state != null && state.noneVariables.contains(head);
            }
            for (int i = 1; i < path.size(); i++) {
                Object plain = unwrap(current);
                if (!(plain instanceof Map<?, ?> map) || !map.containsKey(path.get(i))) {
                    return false;
                }
                current = map.get(path.get(i));
            }
            return unwrap(current) == null;
        }
    }

    /** {@code {% filter name(args) %}...{% endfilter %}}: applies filters to the rendered body. */
    private static final class FilterBlockTag implements Tag {
        private static final long serialVersionUID = 1L;
        private static final String BODY = "__jllm_filter_body__";

        @Override
        public String getName() {
            return "filter";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder body = new StringBuilder();
            for (Node child : tagNode.getChildren()) {
                body.append(child.render(interpreter).getValue());
            }
            JinjavaInterpreter.InterpreterScopeClosable scope = interpreter.enterScope();
            try {
                interpreter.getContext().put(BODY, body.toString());
                Object result = interpreter.resolveELExpression(BODY + "|" + tagNode.getHelpers().strip(),
                        tagNode.getLineNumber());
                return PythonValues.str(result);
            } finally {
                scope.close();
            }
        }
    }

    /** transformers' {@code {% generation %}}: renders its body unchanged. */
    private static final class GenerationTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder body = new StringBuilder();
            for (Node child : tagNode.getChildren()) {
                body.append(child.render(interpreter).getValue());
            }
            return body.toString();
        }
    }
}
