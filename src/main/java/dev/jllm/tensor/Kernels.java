package dev.jllm.tensor;

/** The table from tensor type to kernel: adding a type means one kernel class and one line here. */
final class Kernels {

    private Kernels() {
    }

    static Kernel forType(GgmlType type) {
        return switch (type) {
            case F32 -> F32Kernel.INSTANCE;
            default -> null;
        };
    }
}
