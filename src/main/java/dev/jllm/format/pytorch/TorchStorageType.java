package dev.jllm.format.pytorch;

import dev.jllm.tensor.GgmlType;

/**
 * The storage classes a {@code torch.save} pickle names in its persistent ids ({@code torch.FloatStorage}, ...): a
 * tag for the element type, never a class that is instantiated. Only the float types can hold weights jllm computes
 * with; the others appear in optimizer states and counters, which are read past.
 */
public enum TorchStorageType {
    FLOAT("FloatStorage", 4, GgmlType.F32),
    HALF("HalfStorage", 2, GgmlType.F16),
    BFLOAT16("BFloat16Storage", 2, GgmlType.BF16),
    DOUBLE("DoubleStorage", 8, null),
    LONG("LongStorage", 8, null),
    INT("IntStorage", 4, null),
    SHORT("ShortStorage", 2, null),
    CHAR("CharStorage", 1, null),
    BYTE("ByteStorage", 1, null),
    BOOL("BoolStorage", 1, null),
    COMPLEX_FLOAT("ComplexFloatStorage", 8, null),
    COMPLEX_DOUBLE("ComplexDoubleStorage", 16, null);

    /** The class name in module {@code torch}. */
    public final String className;
    public final int elementBytes;
    /** The tensor type jllm computes with, or null. */
    public final GgmlType ggmlType;

    TorchStorageType(String className, int elementBytes, GgmlType ggmlType) {
        this.className = className;
        this.elementBytes = elementBytes;
        this.ggmlType = ggmlType;
    }

    /** The type for {@code torch.<className>}, or null. */
    static TorchStorageType byClassName(String className) {
        for (TorchStorageType t : values()) {
            if (t.className.equals(className)) {
                return t;
            }
        }
        return null;
    }
}
