using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Backends.Cpu.Ops;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;
using ReasoningServe.Tests.Model;

namespace ReasoningServe.Tests.Backends.Cpu;

/// <summary>Each CPU op against a scalar version of its formula written here.</summary>
public sealed unsafe class CpuOpsTests
{
    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        }
        return values;
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"[{i}] expected {expected[i]}, got {actual[i]}");
        }
    }

    [Theory]
    [InlineData("BF16")]
    [InlineData("F16")]
    [InlineData("F32")]
    public void Linear_group_matches_scalar_matmul_for_each_weight_dtype(string dtypeName)
    {
        var dtype = Enum.Parse<TensorDType>(dtypeName);
        const int tokens = Linear.TokenBlock + 3, inFeatures = 37;
        int[] outs = [10, 5, 33];
        using var dir = new TempDirectory();
        var written = new List<SafeTensorsWriter.Tensor>();
        for (int i = 0; i < outs.Length; i++)
        {
            written.Add(new($"w{i}", dtype, [outs[i], inFeatures], Random(outs[i] * inFeatures, 10 + i)));
        }
        SafeTensorsWriter.Write(dir.File("w.safetensors"), written);
        using SafeTensorsFile file = SafeTensorsFile.Open(dir.File("w.safetensors"));
        float[] x = Random(tokens * inFeatures, 1);
        float[] bias = Random(outs[2], 2);
        Linear[] linears = [new(file.Get("w0"), null), new(file.Get("w1"), null), new(file.Get("w2"), bias)];
        float[][] y = Array.ConvertAll(outs, o => new float[tokens * o]);

        using var pool = new CpuWorkerPool(3);
        NativeBuffer[] scratch = [new(4 * inFeatures), new(4 * inFeatures), new(4 * inFeatures)];
        var group = new LinearGroup(pool, scratch);
        fixed (float* px = x, p0 = y[0], p1 = y[1], p2 = y[2])
        {
            group.Run(px, tokens, linears[0], p0, linears[1], p1, linears[2], p2);
        }

        for (int l = 0; l < outs.Length; l++)
        {
            float[] w = Array.ConvertAll(written[l].Values, v => SafeTensorsWriter.Stored(v, dtype));
            var expected = new float[tokens * outs[l]];
            for (int t = 0; t < tokens; t++)
            {
                for (int o = 0; o < outs[l]; o++)
                {
                    double s = l == 2 ? bias[o] : 0;
                    for (int i = 0; i < inFeatures; i++)
                    {
                        s += (double)x[t * inFeatures + i] * w[o * inFeatures + i];
                    }
                    expected[t * outs[l] + o] = (float)s;
                }
            }
            AssertClose(expected, y[l], 1e-5f);
        }
        foreach (NativeBuffer b in scratch)
        {
            b.Dispose();
        }
    }

    [Fact]
    public void RmsNorm_scales_each_row_by_its_root_mean_square()
    {
        const int n = 24;
        float[] x = Random(3 * n, 3, 4f), w = Random(n, 4), y = new float[3 * n];
        RmsNorm.Forward(x, w, 1e-6f, y);
        var expected = new float[3 * n];
        for (int r = 0; r < 3; r++)
        {
            double ms = 0;
            for (int i = 0; i < n; i++)
            {
                ms += (double)x[r * n + i] * x[r * n + i];
            }
            double scale = 1 / Math.Sqrt(ms / n + 1e-6);
            for (int i = 0; i < n; i++)
            {
                expected[r * n + i] = (float)(x[r * n + i] * scale * w[i]);
            }
        }
        AssertClose(expected, y, 1e-5f);
    }

    [Fact]
    public void SiluAndMul_is_gate_times_sigmoid_gate_times_up_even_written_over_gate()
    {
        const int n = 600;
        float[] gate = Random(n, 5, 6f), up = Random(n, 6, 3f), y = new float[n];
        SiluAndMul.Forward(gate, up, y);
        var expected = new float[n];
        for (int i = 0; i < n; i++)
        {
            expected[i] = (float)(gate[i] / (1 + Math.Exp(-gate[i])) * up[i]);
        }
        AssertClose(expected, y, 1e-5f);
        SiluAndMul.Forward(gate, up, gate);
        AssertClose(expected, gate, 1e-5f);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rope_rotates_pairs_i_and_i_plus_half_with_optionally_llama3_scaled_frequencies(bool llama3)
    {
        var config = new ModelConfig
        {
            Architecture = "LlamaForCausalLM",
            VocabSize = 1,
            HiddenSize = 64,
            IntermediateSize = 1,
            NumLayers = 1,
            NumHeads = 2,
            NumKvHeads = 2,
            HeadDim = 32,
            RopeTheta = 500000f,
            RopeScaling = llama3 ? new RopeScaling("llama3", 8f, 1f, 4f, 64) : null,
        };
        var rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling);
        double[] invFreq = ReferenceDecoder.InverseFrequencies(config);
        for (int i = 0; i < invFreq.Length; i++)
        {
            Assert.Equal(invFreq[i], rope.InverseFrequencies[i], invFreq[i] * 1e-5);
        }
        if (llama3)
        {
            // The band edges matter: low frequencies are divided by 8, high ones kept, middle ones blended.
            Assert.Equal(invFreq[^1], 1 / Math.Pow(500000, 30.0 / 32) / 8, 1e-12);
            Assert.Equal(1.0, invFreq[0]);
        }

        int[] positions = [0, 5, 300];
        const int heads = 2, d = 32, half = 16;
        float[] x = Random(positions.Length * heads * d, 7);
        float[] y = x.ToArray(), cos = new float[positions.Length * half], sin = new float[positions.Length * half];
        rope.ComputeCosSin(positions, cos, sin);
        rope.Apply(y, heads, cos, sin);
        var expected = new float[x.Length];
        for (int t = 0; t < positions.Length; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                int o = (t * heads + h) * d;
                for (int i = 0; i < half; i++)
                {
                    double a = positions[t] * invFreq[i];
                    expected[o + i] = (float)(x[o + i] * Math.Cos(a) - x[o + i + half] * Math.Sin(a));
                    expected[o + i + half] = (float)(x[o + i + half] * Math.Cos(a) + x[o + i] * Math.Sin(a));
                }
            }
        }
        AssertClose(expected, y, 1e-4f);
    }

    [Fact]
    public void Paged_attention_over_scattered_blocks_equals_dense_causal_attention()
    {
        const int heads = 4, kvHeads = 2, d = 8, blockSize = 4, numBlocks = 12, kvSize = kvHeads * d;
        int[][] tables = [[7, 2, 9], [4, 0]];
        int[] contextLens = [11, 6], queryLens = [3, 1];
        float[][] k = [Random(11 * kvSize, 20), Random(6 * kvSize, 21)];
        float[][] v = [Random(11 * kvSize, 22), Random(6 * kvSize, 23)];
        float[] q = Random(4 * heads * d, 24);

        using var kCache = new NativeBuffer();
        using var vCache = new NativeBuffer();
        kCache.AllocateZeroed(numBlocks * blockSize * kvSize);
        vCache.AllocateZeroed(numBlocks * blockSize * kvSize);
        for (int s = 0; s < 2; s++)
        {
            int[] slots = Enumerable.Range(0, contextLens[s]).Select(p => tables[s][p / blockSize] * blockSize + p % blockSize).ToArray();
            KvCacheWrite.Forward(k[s], v[s], slots, kCache.Pointer, vCache.Pointer, kvSize, numBlocks * blockSize);
        }

        int[] tokenSeq = [0, 0, 0, 1], tokenLast = [8, 9, 10, 5];
        var output = new float[4 * heads * d];
        using var pool = new CpuWorkerPool(2);
        NativeBuffer[] scratch = [new(16), new(16)];
        var attention = new PagedAttention(pool, scratch, heads, kvHeads, d);
        fixed (float* pq = q, po = output)
        {
            attention.Forward(pq, po, 4, tokenSeq, tokenLast, tables, kCache.Pointer, vCache.Pointer, blockSize);
        }

        var expected = new float[output.Length];
        for (int t = 0; t < 4; t++)
        {
            int s = tokenSeq[t];
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                var scores = new double[tokenLast[t] + 1];
                for (int j = 0; j < scores.Length; j++)
                {
                    for (int i = 0; i < d; i++)
                    {
                        scores[j] += (double)q[(t * heads + h) * d + i] * k[s][j * kvSize + g * d + i];
                    }
                    scores[j] /= Math.Sqrt(d);
                }
                double max = scores.Max(), sum = scores.Sum(x => Math.Exp(x - max));
                for (int i = 0; i < d; i++)
                {
                    double o = 0;
                    for (int j = 0; j < scores.Length; j++)
                    {
                        o += Math.Exp(scores[j] - max) / sum * v[s][j * kvSize + g * d + i];
                    }
                    expected[(t * heads + h) * d + i] = (float)o;
                }
            }
        }
        AssertClose(expected, output, 1e-5f);
        foreach (NativeBuffer b in scratch)
        {
            b.Dispose();
        }
    }

    [Fact]
    public void Bf16_widening_is_a_sixteen_bit_shift_for_every_length()
    {
        for (int n = 0; n < 70; n++)
        {
            ushort[] source = Enumerable.Range(0, n).Select(i => (ushort)(i * 2654435761u >> 16)).ToArray();
            var destination = new float[n];
            TensorConvert.BFloat16ToSingle(source, destination);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.UInt32BitsToSingle((uint)source[i] << 16), destination[i]);
            }
        }
    }
}
