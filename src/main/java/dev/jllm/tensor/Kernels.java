package dev.jllm.tensor;

/** The table from tensor type to kernel: adding a type means one kernel class and one line here. */
final class Kernels {

    private Kernels() {
    }

    static Kernel forType(GgmlType type) {
        return switch (type) {
            case F32 -> F32Kernel.INSTANCE;
            case F16 -> F16Kernel.INSTANCE;
            case BF16 -> BF16Kernel.INSTANCE;
            case Q8_0 -> Q8_0Kernel.INSTANCE;
            case Q4_0 -> Q4_0Kernel.INSTANCE;
            case Q4_1 -> Q4_1Kernel.INSTANCE;
            case Q5_0 -> Q5_0Kernel.INSTANCE;
            case Q5_1 -> Q5_1Kernel.INSTANCE;
            default -> null;
        };
    }
}
