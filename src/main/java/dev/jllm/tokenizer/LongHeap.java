package dev.jllm.tokenizer;

import java.util.Arrays;

/** A binary min-heap of longs: BPE's queue of candidate merges, each packed as (priority << 32 | left symbol). */
final class LongHeap {

    private long[] heap = new long[64];
    private int size;

    static long entry(int priority, int left) {
        return ((long) priority << 32) | (left & 0xFFFFFFFFL);
    }

    static int priority(long entry) {
        return (int) (entry >>> 32);
    }

    static int left(long entry) {
        return (int) entry;
    }

    boolean isEmpty() {
        return size == 0;
    }

    void clear() {
        size = 0;
    }

    void push(long entry) {
        if (size == heap.length) {
            heap = Arrays.copyOf(heap, heap.length * 2);
        }
        int i = size++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (heap[parent] <= entry) {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = entry;
    }

    long pop() {
        long top = heap[0];
        long last = heap[--size];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && heap[child + 1] < heap[child]) {
                child++;
            }
            if (heap[child] >= last) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = last;
        return top;
    }
}
