using ReasoningServe.Inference.Backends;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Tokenization;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.Engine;

/// <summary>
/// The tiny Qwen3 golden model (vocab 512, hidden 64, 2 layers, 4 heads, 2 KV heads, random weights from transformers)
/// loaded once; each test builds engines on fresh CPU backends over the shared weights.
/// </summary>
public sealed class TinyModel : IDisposable
{
    private readonly LoadedModel _model = ModelLoader.Load(Path.Combine(TestData.Root, "testdata", "goldens", "models", "qwen3"));

    internal ModelConfig Config => _model.Config;

    internal LLMEngine Engine(EngineOptions options, Tokenizer? tokenizer = null, Func<IModelBackend, IModelBackend>? wrap = null)
    {
        IModelBackend backend = new CpuBackend(_model.Config, _model.Weights, threads: 1, ownsWeights: false);
        return new LLMEngine(wrap is null ? backend : wrap(backend), tokenizer, options with { EosTokenIds = [2] });
    }

    public void Dispose() => _model.Dispose();
}
