using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Tests.Backends.Cpu;

/// <summary>
/// The decoder written the plain way, in double precision, dense attention, no cache: the yardstick the CPU backend's
/// logits are compared with. It shares nothing with the backend beyond reading the weights.
/// </summary>
internal sealed class ReferenceDecoder(ModelConfig c, ModelWeights w)
{
    private static double[] Read(TensorView? t) => t is null ? [] : Array.ConvertAll(TensorConvert.ToSingleArray(t), v => (double)v);

    /// <summary>Logits [tokens.Length][vocab] for positions 0..n-1.</summary>
    public double[][] Forward(int[] tokens)
    {
        int n = tokens.Length, h = c.HiddenSize, d = c.HeadDim;
        double[] embed = Read(w.EmbedTokens);
        var x = new double[n][];
        for (int t = 0; t < n; t++)
        {
            x[t] = embed.AsSpan(tokens[t] * h, h).ToArray();
        }
        foreach (LayerWeights l in w.Layers)
        {
            double[][] normed = Array.ConvertAll(x, r => Norm(r, Read(l.InputNorm)));
            double[][] q = Array.ConvertAll(normed, r => Linear(r, Read(l.QProj), Read(l.QBias), c.QSize));
            double[][] k = Array.ConvertAll(normed, r => Linear(r, Read(l.KProj), Read(l.KBias), c.KvSize));
            double[][] v = Array.ConvertAll(normed, r => Linear(r, Read(l.VProj), Read(l.VBias), c.KvSize));
            for (int t = 0; t < n; t++)
            {
                if (c.QkNorm)
                {
                    q[t] = PerHead(q[t], c.NumHeads, head => Norm(head, Read(l.QNorm)));
                    k[t] = PerHead(k[t], c.NumKvHeads, head => Norm(head, Read(l.KNorm)));
                }
                q[t] = PerHead(q[t], c.NumHeads, head => Rope(head, t));
                k[t] = PerHead(k[t], c.NumKvHeads, head => Rope(head, t));
            }
            var attn = new double[n][];
            for (int t = 0; t < n; t++)
            {
                attn[t] = new double[c.QSize];
                for (int head = 0; head < c.NumHeads; head++)
                {
                    int g = head / (c.NumHeads / c.NumKvHeads);
                    var scores = new double[t + 1];
                    for (int j = 0; j <= t; j++)
                    {
                        double s = 0;
                        for (int i = 0; i < d; i++)
                        {
                            s += q[t][head * d + i] * k[j][g * d + i];
                        }
                        scores[j] = s / Math.Sqrt(d);
                    }
                    double max = scores.Max();
                    double sum = scores.Sum(s => Math.Exp(s - max));
                    for (int j = 0; j <= t; j++)
                    {
                        double p = Math.Exp(scores[j] - max) / sum;
                        for (int i = 0; i < d; i++)
                        {
                            attn[t][head * d + i] += p * v[j][g * d + i];
                        }
                    }
                }
                Add(x[t], Linear(attn[t], Read(l.OProj), Read(l.OBias), h));
            }
            for (int t = 0; t < n; t++)
            {
                double[] m = Norm(x[t], Read(l.PostAttentionNorm));
                double[] gate = Linear(m, Read(l.GateProj), Read(l.GateBias), c.IntermediateSize);
                double[] up = Linear(m, Read(l.UpProj), Read(l.UpBias), c.IntermediateSize);
                for (int i = 0; i < gate.Length; i++)
                {
                    gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                }
                Add(x[t], Linear(gate, Read(l.DownProj), Read(l.DownBias), h));
            }
        }
        return Array.ConvertAll(x, r => Linear(Norm(r, Read(w.FinalNorm)), Read(w.LmHead), [], c.VocabSize));
    }

    private double[] Norm(double[] x, double[] weight)
    {
        double mean = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(mean + c.RmsNormEps);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private static double[] Linear(double[] x, double[] weight, double[] bias, int outFeatures)
    {
        var y = new double[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            double s = bias.Length > 0 ? bias[o] : 0;
            for (int i = 0; i < x.Length; i++)
            {
                s += weight[o * x.Length + i] * x[i];
            }
            y[o] = s;
        }
        return y;
    }

    private static void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] += y[i];
        }
    }

    private double[] PerHead(double[] x, int heads, Func<double[], double[]> f)
    {
        var result = new double[x.Length];
        for (int head = 0; head < heads; head++)
        {
            f(x.AsSpan(head * c.HeadDim, c.HeadDim).ToArray()).CopyTo(result, head * c.HeadDim);
        }
        return result;
    }

    /// <summary>rotate_half RoPE with the frequencies of <see cref="InverseFrequencies"/>.</summary>
    private double[] Rope(double[] x, int position)
    {
        int half = c.HeadDim / 2;
        double[] invFreq = InverseFrequencies(c);
        var y = new double[x.Length];
        for (int i = 0; i < half; i++)
        {
            double a = position * invFreq[i];
            y[i] = x[i] * Math.Cos(a) - x[i + half] * Math.Sin(a);
            y[i + half] = x[i + half] * Math.Cos(a) + x[i] * Math.Sin(a);
        }
        return y;
    }

    /// <summary>theta^(-2i/d); with llama3 scaling, by wavelength band: kept, divided by factor, or blended.</summary>
    public static double[] InverseFrequencies(ModelConfig c)
    {
        int half = c.HeadDim / 2;
        var f = new double[half];
        for (int i = 0; i < half; i++)
        {
            f[i] = 1 / Math.Pow(c.RopeTheta, 2.0 * i / c.HeadDim);
            if (c.RopeScaling is { } s)
            {
                double wavelength = 2 * Math.PI / f[i];
                double low = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor, high = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
                if (wavelength > low)
                {
                    f[i] /= s.Factor;
                }
                else if (wavelength >= high)
                {
                    double smooth = (s.OriginalMaxPositionEmbeddings / wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    f[i] = (1 - smooth) * f[i] / s.Factor + smooth * f[i];
                }
            }
        }
        return f;
    }
}
