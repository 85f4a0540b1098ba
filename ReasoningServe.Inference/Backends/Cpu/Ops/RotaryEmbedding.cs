using ReasoningServe.Inference.Model;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>
/// RoPE, neox / HF rotate_half layout: dimension i pairs with i + d/2.
///   inv_freq[i] = theta^(-2i/d),  a = pos * inv_freq[i]  (fp32, as HF computes it)
///   y[i]       = x[i] * cos a - x[i + d/2] * sin a
///   y[i + d/2] = x[i + d/2] * cos a + x[i] * sin a
/// llama3 scaling keeps high frequencies, divides low ones by factor, and blends in between by wavelength.
/// </summary>
internal sealed class RotaryEmbedding
{
    private readonly float[] _invFreq;

    public RotaryEmbedding(int headDim, float theta, RopeScaling? scaling)
    {
        HeadDim = headDim;
        _invFreq = new float[headDim / 2];
        for (int i = 0; i < _invFreq.Length; i++)
        {
            float exponent = (float)(2 * i) / headDim;
            _invFreq[i] = 1f / MathF.Pow(theta, exponent);
        }
        if (scaling is { Type: "llama3" } s)
        {
            ApplyLlama3(_invFreq, s);
        }
    }

    public int HeadDim { get; }
    public ReadOnlySpan<float> InverseFrequencies => _invFreq;

    /// <summary>
    /// Wavelengths above original_max/low_freq_factor are slowed by factor; below original_max/high_freq_factor kept;
    /// in between, interpolated with smooth = (original_max / wavelength - low) / (high - low).
    /// </summary>
    private static void ApplyLlama3(float[] invFreq, RopeScaling s)
    {
        float lowFreqWavelength = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        float highFreqWavelength = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        for (int i = 0; i < invFreq.Length; i++)
        {
            float f = invFreq[i];
            float wavelength = 2 * MathF.PI / f;
            if (wavelength > lowFreqWavelength)
            {
                invFreq[i] = f / s.Factor;
            }
            else if (wavelength >= highFreqWavelength)
            {
                float smooth = (s.OriginalMaxPositionEmbeddings / wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                invFreq[i] = (1 - smooth) * f / s.Factor + smooth * f;
            }
        }
    }

    /// <summary>cos/sin rows [positions, d/2] for one step, shared by every layer and head.</summary>
    public void ComputeCosSin(ReadOnlySpan<int> positions, Span<float> cos, Span<float> sin)
    {
        int half = _invFreq.Length;
        for (int t = 0; t < positions.Length; t++)
        {
            float p = positions[t];
            for (int i = 0; i < half; i++)
            {
                float angle = p * _invFreq[i];
                cos[t * half + i] = MathF.Cos(angle);
                sin[t * half + i] = MathF.Sin(angle);
            }
        }
    }

    /// <summary>Rotates every head of x [tokens, heads, d] in place with the cos/sin rows of each token.</summary>
    public void Apply(Span<float> x, int heads, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = HeadDim / 2;
        int tokens = x.Length / (heads * HeadDim);
        for (int t = 0; t < tokens; t++)
        {
            ReadOnlySpan<float> c = cos.Slice(t * half, half);
            ReadOnlySpan<float> s = sin.Slice(t * half, half);
            for (int h = 0; h < heads; h++)
            {
                Span<float> head = x.Slice((t * heads + h) * HeadDim, HeadDim);
                for (int i = 0; i < half; i++)
                {
                    float x1 = head[i];
                    float x2 = head[i + half];
                    head[i] = x1 * c[i] - x2 * s[i];
                    head[i + half] = x2 * c[i] + x1 * s[i];
                }
            }
        }
    }
}
