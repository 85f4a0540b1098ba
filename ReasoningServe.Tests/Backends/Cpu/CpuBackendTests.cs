using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;
using ReasoningServe.Tests.Model;

namespace ReasoningServe.Tests.Backends.Cpu;

public sealed class CpuBackendTests
{
    private const int BlockSize = 4;

    private static (LoadedModel Model, CpuBackend Backend) Load(TempDirectory dir, string configJson, string dtype = "BF16")
    {
        TestModels.WriteFolder(dir.Path, configJson, Enum.Parse<TensorDType>(dtype));
        LoadedModel model = ModelLoader.Load(dir.Path);
        var backend = new CpuBackend(model.Config, model.Weights, threads: 3, ownsWeights: false);
        backend.AllocateKvCache(numBlocks: 40, BlockSize);
        return (model, backend);
    }

    private static float[] Run(CpuBackend backend, ForwardBatch batch)
    {
        var logits = new float[batch.NumSeqs * backend.Config.VocabSize];
        backend.Forward(batch, logits);
        return logits;
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static readonly int[] Prompt = [5, 17, 99, 3, 64, 127, 8, 42, 42, 1, 77];

    [Theory]
    [InlineData(TestModels.Qwen2Config, "BF16")]
    [InlineData(TestModels.Qwen3Config, "F16")]
    [InlineData(TestModels.LlamaConfig, "F32")]
    public void Logits_at_every_position_match_a_double_precision_reference(string configJson, string dtype)
    {
        using var dir = new TempDirectory();
        (LoadedModel model, CpuBackend backend) = Load(dir, configJson, dtype);
        using (model)
        using (backend)
        {
            double[][] reference = new ReferenceDecoder(model.Config, model.Weights).Forward(Prompt);
            var builder = BatchBuilder.Contiguous(BlockSize, 8);
            // Prefill the first 4 tokens, then one token per step: every position's logits get checked.
            float[] logits = Run(backend, builder.Build(new BatchBuilder.Part(0, Prompt[..4], 0)));
            AssertClose(Array.ConvertAll(reference[3], v => (float)v), logits, 2e-4, "position 3");
            for (int p = 4; p < Prompt.Length; p++)
            {
                logits = Run(backend, builder.Build(new BatchBuilder.Part(0, [Prompt[p]], p)));
                AssertClose(Array.ConvertAll(reference[p], v => (float)v), logits, 2e-4, $"position {p}");
            }
            Assert.Contains(logits, v => Math.Abs(v) > 0.05f);
        }
    }

    [Theory]
    [InlineData(TestModels.Qwen2Config)]
    [InlineData(TestModels.Qwen3Config)]
    [InlineData(TestModels.LlamaConfig)]
    public void Prefill_then_decode_equals_one_longer_prefill(string configJson)
    {
        using var dir = new TempDirectory();
        (LoadedModel model, CpuBackend backend) = Load(dir, configJson);
        using (model)
        using (backend)
        {
            var builder = BatchBuilder.Contiguous(BlockSize, 8);
            int n = Prompt.Length - 1;
            Run(backend, builder.Build(new BatchBuilder.Part(0, Prompt[..n], 0)));
            float[] decoded = Run(backend, builder.Build(new BatchBuilder.Part(0, Prompt[n..], n)));
            float[] prefilled = Run(backend, builder.Build(new BatchBuilder.Part(1, Prompt, 0)));
            AssertClose(prefilled, decoded, 1e-4, "logits");
        }
    }

    [Fact]
    public void Mixed_batch_over_scattered_blocks_matches_each_sequence_run_alone()
    {
        using var dir = new TempDirectory();
        (LoadedModel model, CpuBackend backend) = Load(dir, TestModels.Qwen3Config);
        using (model)
        using (backend)
        {
            int[][] scattered = [[31, 2, 17, 9], [5, 38, 0, 22], [12, 30, 7, 19]];
            var mixed = new BatchBuilder(BlockSize, seq => scattered[seq]);
            var alone = BatchBuilder.Contiguous(BlockSize, 4);
            int[] a = [9, 8, 7, 6, 5, 4, 3], b = [100, 101, 102, 103, 104], c = [60, 61, 62, 63, 64, 65, 66, 67, 68];

            // Step 1 prefills a and a chunk of c; step 2 decodes a, prefills b, and finishes c: prefill chunks, a decode
            // token and a prefix already in the cache share one Forward.
            Run(backend, mixed.Build(new(0, a[..6], 0), new(2, c[..4], 0)));
            float[] batched = Run(backend, mixed.Build(new(0, a[6..], 6), new(1, b, 0), new(2, c[4..], 4)));

            int vocab = model.Config.VocabSize;
            float[] soloA = Run(backend, alone.Build(new BatchBuilder.Part(5, a, 0)));
            float[] soloB = Run(backend, alone.Build(new BatchBuilder.Part(6, b, 0)));
            float[] soloC = Run(backend, alone.Build(new BatchBuilder.Part(7, c, 0)));
            AssertClose(soloA, batched.AsSpan(0, vocab), 1e-4, "a");
            AssertClose(soloB, batched.AsSpan(vocab, vocab), 1e-4, "b");
            AssertClose(soloC, batched.AsSpan(2 * vocab, vocab), 1e-4, "c");
        }
    }

    [Fact]
    public void Kv_block_bytes_cover_k_and_v_of_every_layer()
    {
        var config = CpuDecodeBenchmark.Qwen25HalfBillion;
        using var backend = new CpuBackend(config with { NumLayers = 1, VocabSize = 8, IntermediateSize = 8 },
            DummyWeights.Create(config with { NumLayers = 1, VocabSize = 8, IntermediateSize = 8 }, TensorDType.BF16), threads: 1);
        Assert.Equal(2L * 1 * 16 * 2 * 64 * sizeof(float), backend.KvBlockBytes(16));
    }

    [Fact]
    public void Forward_rejects_a_batch_whose_blocks_cannot_hold_its_context()
    {
        using var dir = new TempDirectory();
        (LoadedModel model, CpuBackend backend) = Load(dir, TestModels.Qwen2Config);
        using (model)
        using (backend)
        {
            var batch = new ForwardBatch
            {
                NumSeqs = 1,
                TokenIds = [1, 2, 3],
                Positions = [6, 7, 8],
                SlotMapping = [6, 7, 8],
                QueryStart = [0, 3],
                ContextLens = [9],
                BlockTables = [[0, 1]],
            };
            var e = Assert.Throws<ArgumentException>(() => Run(backend, batch));
            Assert.Contains("cannot hold 9 tokens", e.Message);
        }
    }
}
