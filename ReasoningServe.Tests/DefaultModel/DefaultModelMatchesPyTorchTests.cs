using System.Text.Json;
using ReasoningServe.Inference.Backends.Cpu;
using ReasoningServe.Inference.Engine;
using ReasoningServe.Inference.Model;
using ReasoningServe.Tests.Serving;

namespace ReasoningServe.Tests.DefaultModel;

/// <summary>
/// The shipped default model (models/default) generates, on our engine, exactly the tokens PyTorch generated for the same
/// held-out questions when it was trained (docs/default_model/pytorch_eval.json, greedy, fp32 compute on the bf16 weights).
/// </summary>
public class DefaultModelMatchesPyTorchTests
{
    private static string ModelFolder => Path.Combine(TestData.Root, "models", "default");

    private static string EvalFile => Path.Combine(TestData.Root, "docs", "default_model", "pytorch_eval.json");

    [Fact]
    public void Greedy_tokens_equal_pytorch_for_held_out_questions_of_every_task_batched_together()
    {
        List<(string Task, int[] Prompt, int[] Expected)> records = SampleRecords(perTask: 12);
        using LoadedModel model = ModelLoader.Load(ModelFolder);
        using var backend = new CpuBackend(model.Config, model.Weights, ownsWeights: false);
        var engine = new LLMEngine(backend, tokenizer: null, new EngineOptions
        {
            MaxModelLen = model.Config.MaxPositionEmbeddings,
            NumKvBlocks = 1024,
            EosTokenIds = model.Generation.EosTokenIds,
        });
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 240 };
        for (int i = 0; i < records.Count; i++)
        {
            engine.AddRequest(new EngineRequest($"q{i}", records[i].Prompt, greedy));
        }

        var generated = new Dictionary<string, List<int>>();
        while (engine.HasUnfinished)
        {
            foreach (RequestOutput output in engine.Step())
            {
                foreach (CompletionDelta delta in output.Deltas)
                {
                    if (!generated.TryGetValue(output.RequestId, out List<int>? tokens))
                    {
                        generated[output.RequestId] = tokens = [];
                    }
                    tokens.AddRange(delta.TokenIds);
                }
            }
        }

        for (int i = 0; i < records.Count; i++)
        {
            Assert.True(generated[$"q{i}"].SequenceEqual(records[i].Expected),
                $"{records[i].Task} question {i}: ours [{string.Join(',', generated[$"q{i}"])}] vs PyTorch [{string.Join(',', records[i].Expected)}]");
        }
    }

    private static List<(string Task, int[] Prompt, int[] Expected)> SampleRecords(int perTask)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(EvalFile));
        var taken = new Dictionary<string, int>();
        var records = new List<(string, int[], int[])>();
        int index = 0;
        foreach (JsonElement record in doc.RootElement.GetProperty("records").EnumerateArray())
        {
            // Every 7th record spreads the sample over the whole held-out set.
            if (index++ % 7 != 0)
            {
                continue;
            }
            string task = record.GetProperty("task").GetString()!;
            if (taken.GetValueOrDefault(task) >= perTask)
            {
                continue;
            }
            taken[task] = taken.GetValueOrDefault(task) + 1;
            int[] prompt = record.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] expected = record.GetProperty("fp32").GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            records.Add((task, prompt, expected));
        }
        Assert.Equal(3, taken.Count);
        return records;
    }
}
