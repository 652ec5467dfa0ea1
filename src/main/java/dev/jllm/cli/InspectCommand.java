package dev.jllm.cli;

import dev.jllm.format.ModelFile;
import dev.jllm.format.ModelLoaders;
import dev.jllm.io.Printable;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.TokenizerSpec;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Print a model file's format, config, tokenizer summary and tensor table.")
final class InspectCommand extends IoCommand implements Runnable {

    @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "Model file (GGUF, llama2.c .bin, flat"
            + " FP16 .bin, PyTorch .pt/.pth, lumi .lmw) or directory (Hugging Face, or Meta's params.json +"
            + " consolidated.*.pth). Default: the bundled TinyStories-260K demo model.")
    Path file;

    @Option(names = "--metadata", description = "Also print every metadata key and value.")
    boolean metadata;

    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        try (ModelFile model = file != null ? ModelLoaders.open(file) : BundledModel.open(err)) {
            LlamaConfig c = model.config();
            out.printf("file:      %s%n", Printable.escape(model.path().toString()));
            out.printf("format:    %s%n", model.format());
            out.printf("config:    dim %d, layers %d, heads %d, kv heads %d, head dim %d, hidden %d, vocab %d, context %d%n",
                    c.dim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.hiddenDim(), c.vocabSize(), c.contextLength());
            out.printf("rope:      theta %s, dims %d%s%n", c.ropeTheta(), c.ropeDim(),
                    model.tensorOrNull("rope_freqs.weight") != null ? ", frequency factors (rope_freqs)"
                            : c.ropeScaling() != null ? ", llama3 scaling " + c.ropeScaling() : "");
            out.printf("rms eps:   %s%n", c.rmsEps());
            TokenizerSpec t = model.tokenizer();
            if (t == null) {
                out.println("tokenizer: none in this file (llama2.c keeps it in tokenizer.bin)");
            } else {
                out.printf("tokenizer: %s%s, %d tokens, bos %d, eos %d, unk %d%s%n", Printable.escape(t.model()),
                        t.pre() != null ? " (pre " + Printable.escape(t.pre()) + ")" : "",
                        t.vocabSize(), t.bosId(), t.eosId(), t.unkId(),
                        t.merges() != null ? ", " + t.merges().size() + " merges" : "");
                if (t.chatTemplate() != null) {
                    out.printf("chat template: %d characters%n", t.chatTemplate().length());
                }
            }
            if (metadata) {
                out.println();
                for (Map.Entry<String, Object> e : model.metadata().entrySet()) {
                    out.printf("%-45s %s%n", Printable.escape(e.getKey()), summarize(e.getValue()));
                }
            }
            out.println();
            int width = Math.max(4, model.tensors().keySet().stream().mapToInt(n -> Printable.escape(n).length()).max()
                    .orElse(4));
            out.printf("%-" + width + "s  %-7s  %-22s  %12s%n", "name", "type", "shape", "bytes");
            long total = 0;
            Map<String, Integer> unsupported = new java.util.TreeMap<>();
            for (Tensor tensor : model.tensors().values()) {
                boolean runs = tensor.type().kernel() != null;
                out.printf("%-" + width + "s  %-7s  %-22s  %12d%s%n", Printable.escape(tensor.name()),
                        tensor.type().name(), tensor.shapeString(), tensor.byteSize(), runs ? "" : "  (no kernel in jllm)");
                total += tensor.byteSize();
                if (!runs) {
                    unsupported.merge(tensor.type().name(), 1, Integer::sum);
                }
            }
            out.printf("%d tensors, %d bytes of weights (%.2f MiB)%n", model.tensors().size(), total, total / 1048576.0);
            if (!unsupported.isEmpty()) {
                StringBuilder types = new StringBuilder();
                unsupported.forEach((type, n) -> types.append(types.isEmpty() ? "" : ", ").append(type).append(" (")
                        .append(n).append(n == 1 ? " tensor)" : " tensors)"));
                out.printf("jllm cannot run this file: tensor type %s has no kernel (jllm runs %s)%n", types,
                        String.join(", ", GgmlType.runnable().stream().map(Enum::name).toList()));
            }
        }
    }

    /** A value in one line of at most about 80 characters, with what a terminal would act on escaped. */
    static String summarize(Object value) {
        if (value instanceof java.util.List<?> list) {
            String head = Printable.escape(list.subList(0, Math.min(5, list.size())).toString());
            return "array[" + list.size() + "] " + (list.size() > 5 ? head.substring(0, head.length() - 1) + ", ...]" : head);
        }
        if (value != null && value.getClass().isArray()) {
            return "array[" + java.lang.reflect.Array.getLength(value) + "]";
        }
        String s = String.valueOf(value);
        if (s.length() > 77) {
            int end = Character.isHighSurrogate(s.charAt(76)) ? 76 : 77; // never half a character
            return Printable.escape(s.substring(0, end)) + "...";
        }
        return Printable.escape(s);
    }
}
