package dev.jllm.tensor;

import dev.jllm.tensor.BlockKernel.MinimumSum;
import dev.jllm.tensor.BlockKernel.SumOrder;

/**
 * The table from tensor type to kernel. A block type is its {@link BlockDecoder} plus one line here: the activation
 * format ggml multiplies it with ({@code vec_dot_type}), the summation order and where ggml's x86 kernel adds the
 * minimum terms, and its tiled product (the generic {@link LaneTiles} unless the type has its own).
 */
final class Kernels {

    private Kernels() {
    }

    static final BlockKernel Q8_0 = lanes(new Q8_0Blocks(), ActivationFormat.Q8_0, MinimumSum.NONE, BlockTiles.Q8_0);
    /** Q4_0 as ggml multiplies it when it repacks the matrix (row count a multiple of 8, see {@link Kernel#forProduct}). */
    static final BlockKernel Q4_0_REPACKED = new BlockKernel(new Q4_0Blocks(), ActivationFormat.Q8_0,
            SumOrder.BLOCK_SUMS, MinimumSum.NONE, BlockTiles.Q4_0, null);
    static final BlockKernel Q4_0 = new BlockKernel(new Q4_0Blocks(), ActivationFormat.Q8_0, SumOrder.GGML_LANES,
            MinimumSum.NONE, LaneTiles.INSTANCE, Q4_0_REPACKED);
    static final BlockKernel Q4_1 = lanes(new Q4_1Blocks(), ActivationFormat.Q8_1, MinimumSum.PRODUCTS_APART);
    static final BlockKernel Q5_0 = lanes(new Q5_0Blocks(), ActivationFormat.Q8_0, MinimumSum.NONE);
    static final BlockKernel Q5_1 = lanes(new Q5_1Blocks(), ActivationFormat.Q8_1, MinimumSum.PRODUCTS_APART);
    static final BlockKernel IQ4_NL = lanes(new IQ4_NLBlocks(), ActivationFormat.Q8_0, MinimumSum.NONE);
    static final BlockKernel Q2_K = lanes(new Q2_KBlocks(), ActivationFormat.Q8_K, MinimumSum.IN_LANES);
    static final BlockKernel Q3_K = lanes(new Q3_KBlocks(), ActivationFormat.Q8_K, MinimumSum.NONE);
    static final BlockKernel Q4_K = lanes(new Q4_KBlocks(), ActivationFormat.Q8_K, MinimumSum.FOUR_LANES_APART,
            KDecodeTiles.Q4_K);
    static final BlockKernel Q5_K = lanes(new Q5_KBlocks(), ActivationFormat.Q8_K, MinimumSum.ONE_APART);
    static final BlockKernel Q6_K = lanes(new Q6_KBlocks(), ActivationFormat.Q8_K, MinimumSum.NONE, KDecodeTiles.Q6_K);
    static final BlockKernel IQ4_XS = lanes(new IQ4_XSBlocks(), ActivationFormat.Q8_K, MinimumSum.NONE);

    private static BlockKernel lanes(BlockDecoder blocks, ActivationFormat format, MinimumSum minimums) {
        return lanes(blocks, format, minimums, LaneTiles.INSTANCE);
    }

    private static BlockKernel lanes(BlockDecoder blocks, ActivationFormat format, MinimumSum minimums,
            RowTiles tiles) {
        return new BlockKernel(blocks, format, SumOrder.GGML_LANES, minimums, tiles, null);
    }

    static Kernel forType(GgmlType type) {
        return switch (type) {
            case F32 -> F32Kernel.INSTANCE;
            case F16 -> F16Kernel.INSTANCE;
            case BF16 -> BF16Kernel.INSTANCE;
            case Q8_0 -> Q8_0;
            case Q4_0 -> Q4_0;
            case Q4_1 -> Q4_1;
            case Q5_0 -> Q5_0;
            case Q5_1 -> Q5_1;
            case Q2_K -> Q2_K;
            case Q3_K -> Q3_K;
            case Q4_K -> Q4_K;
            case Q5_K -> Q5_K;
            case Q6_K -> Q6_K;
            case IQ4_NL -> IQ4_NL;
            case IQ4_XS -> IQ4_XS;
            default -> null;
        };
    }
}
