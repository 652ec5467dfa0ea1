package dev.jllm.synth;

/**
 * The Llama 3.1 rope-scaling factors as llama.cpp's converter stores them in the {@code rope_freqs} tensor (one per
 * rotated pair; the forward pass divides each frequency by its factor): 1 for short wavelengths, {@code factor} for
 * long ones, and a smooth blend between. The frequencies are float32 (as the converter's torch tensor); the blend is
 * worked in double (Python floats) and rounded to float32 once, which reproduces llama.cpp's tensor bit for bit.
 */
final class RopeFactors {

    private RopeFactors() {
    }

    static float[] compute(int headDim, float theta, ModelShape.RopeScaling s) {
        double factor = s.factor();
        double low = s.lowFreqFactor();
        double high = s.highFreqFactor();
        double originalContext = s.originalContextLength();
        double lowFreqWavelen = originalContext / low;
        double highFreqWavelen = originalContext / high;
        float[] factors = new float[headDim / 2];
        for (int i = 0; i < factors.length; i++) {
            float exponent = (float) (2 * i) / headDim;
            float freq = (float) (1.0 / (float) Math.pow(theta, exponent));
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highFreqWavelen) {
                factors[i] = 1f;
            } else if (wavelen > lowFreqWavelen) {
                factors[i] = (float) factor;
            } else {
                double smooth = (originalContext / wavelen - low) / (high - low);
                factors[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return factors;
    }
}
