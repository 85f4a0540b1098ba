using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Model;

namespace ReasoningServe.Tests.Serving.Fixtures;

/// <summary>The fixture model really does what the end-to-end tests rely on, checked on the CPU backend alone.</summary>
public class ReasoningModelFixtureTests
{
    [Fact]
    public void Greedy_decoding_follows_the_think_chain_after_the_generation_prompt()
    {
        using var model = ModelLoader.Load(InferenceServer.FixtureModel);
        using var backend = new CpuBackend(model.Config, model.Weights, threads: 1, ownsWeights: false);
        const int BlockSize = 16;
        backend.AllocateKvCache(numBlocks: 2, BlockSize);
        var vocab = model.Config.VocabSize;
        var logits = new float[vocab];
        var tokens = new List<int> { 198 };
        var generated = new List<int>();
        for (var step = 0; step < 11; step++)
        {
            var position = tokens.Count - 1;
            backend.Forward(new ForwardBatch
            {
                NumSeqs = 1,
                TokenIds = [tokens[^1]],
                Positions = [position],
                SlotMapping = [position],
                QueryStart = [0, 1],
                ContextLens = [tokens.Count],
                BlockTables = [[0, 1]],
            }, logits);
            var next = Array.IndexOf(logits, logits.Max());
            generated.Add(next);
            tokens.Add(next);
        }
        // <think> Let Ġme Ġthink </think> ĊĊ The Ġanswer Ġis Ġyes <|im_end|>, ids from the Qwen3 vocabulary.
        Assert.Equal([151667, 10061, 752, 1744, 151668, 271, 785, 4226, 374, 9834, 151645], generated);
    }
}
