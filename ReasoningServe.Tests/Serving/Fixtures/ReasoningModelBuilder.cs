using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace ReasoningServe.Tests.Serving.Fixtures;

/// <summary>
/// Writes a tiny Qwen3 model folder whose greedy output is known: the real Qwen3 tokenizer files, one decoder layer
/// whose o_proj and down_proj are zero (so the residual stream stays the last token's embedding) and an untied lm_head
/// whose rows send each chain token's embedding to the next chain token. Embeddings of the chain tokens are random,
/// nearly orthogonal vectors (hidden size 64), which leaves a large logit margin; every other row is zero.
/// After a prompt ending in "\n" (the Qwen3 generation prompt) greedy decoding gives
/// &lt;think&gt;Let me think&lt;/think&gt;\n\nThe answer is yes&lt;|im_end|&gt;; after "\n\n" (the enable_thinking=false prompt)
/// it gives "The answer is yes&lt;|im_end|&gt;"; after a prompt ending in &lt;think&gt; it continues with "Let me think".
/// </summary>
internal static class ReasoningModelBuilder
{
    public const string Reasoning = "Let me think";
    public const string Content = "\n\nThe answer is yes";
    public const string ContentWithoutThinking = "The answer is yes";

    private const int Hidden = 64, Heads = 2, KvHeads = 1, HeadDim = 32, Intermediate = 64;
    private const float Margin = 30f;

    // Vocabulary strings (byte-level BPE spelling) of the chain; each token appears once so a bigram decides the next.
    private static readonly string[] Chain =
        ["Ċ", "<think>", "Let", "Ġme", "Ġthink", "</think>", "ĊĊ", "The", "Ġanswer", "Ġis", "Ġyes", "<|im_end|>"];

    public static string Build(string directory, string tokenizerFolder)
    {
        Directory.CreateDirectory(directory);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(tokenizerFolder, file), Path.Combine(directory, file), overwrite: true);
        }
        var (ids, vocabSize) = ChainIds(Path.Combine(tokenizerFolder, "tokenizer.json"));
        WriteConfig(directory, vocabSize);
        WriteWeights(Path.Combine(directory, "model.safetensors"), ids, vocabSize);
        return directory;
    }

    private static (int[] Ids, int VocabSize) ChainIds(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        var vocab = doc.RootElement.GetProperty("model").GetProperty("vocab");
        var added = new Dictionary<string, int>();
        var max = 0;
        foreach (var token in doc.RootElement.GetProperty("added_tokens").EnumerateArray())
        {
            var id = token.GetProperty("id").GetInt32();
            added[token.GetProperty("content").GetString()!] = id;
            max = Math.Max(max, id);
        }
        foreach (var entry in vocab.EnumerateObject())
        {
            max = Math.Max(max, entry.Value.GetInt32());
        }
        var ids = new int[Chain.Length];
        for (var i = 0; i < Chain.Length; i++)
        {
            ids[i] = added.TryGetValue(Chain[i], out var a) ? a
                : vocab.TryGetProperty(Chain[i], out var v) ? v.GetInt32()
                : throw new InvalidOperationException($"'{Chain[i]}' is not in the Qwen3 vocabulary");
        }
        return (ids, max + 1);
    }

    private static void WriteConfig(string directory, int vocabSize)
    {
        File.WriteAllText(Path.Combine(directory, "config.json"), $$"""
            {
              "architectures": ["Qwen3ForCausalLM"],
              "model_type": "qwen3",
              "vocab_size": {{vocabSize}},
              "hidden_size": {{Hidden}},
              "intermediate_size": {{Intermediate}},
              "num_hidden_layers": 1,
              "num_attention_heads": {{Heads}},
              "num_key_value_heads": {{KvHeads}},
              "head_dim": {{HeadDim}},
              "hidden_act": "silu",
              "max_position_embeddings": 512,
              "rms_norm_eps": 1e-06,
              "rope_theta": 1000000.0,
              "tie_word_embeddings": false,
              "torch_dtype": "float32",
              "bos_token_id": 151643,
              "eos_token_id": 151645
            }
            """);
        // Qwen3's published sampling defaults, so tests can see generation_config.json reach the request defaults.
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), """
            {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": true, "temperature": 0.6, "top_k": 20, "top_p": 0.95}
            """);
    }

    private static void WriteWeights(string path, int[] chain, int vocabSize)
    {
        var random = new Random(1234);
        var embed = new Dictionary<int, float[]>();
        foreach (var id in chain)
        {
            var e = new float[Hidden];
            double norm = 0;
            for (var i = 0; i < Hidden; i++)
            {
                e[i] = (float)NextGaussian(random);
                norm += e[i] * e[i];
            }
            // RMS 1, so the final RMSNorm (weight 1) leaves the embedding as it is.
            var scale = (float)(Math.Sqrt(Hidden) / Math.Sqrt(norm));
            for (var i = 0; i < Hidden; i++)
            {
                e[i] *= scale;
            }
            embed[id] = e;
        }
        var head = new Dictionary<int, float[]>();
        for (var k = 0; k + 1 < chain.Length; k++)
        {
            // logit(next) = Margin · cos(e, e) = Margin; others ≈ Margin · cos of nearly orthogonal vectors, or 0.
            head[chain[k + 1]] = embed[chain[k]].Select(x => x * Margin / Hidden).ToArray();
        }
        var ones = (int n) => Enumerable.Repeat(1f, n).ToArray();
        var tensors = new List<(string Name, int[] Shape, Func<int, float[]?> Row)>
        {
            ("model.embed_tokens.weight", [vocabSize, Hidden], r => embed.GetValueOrDefault(r)),
            ("model.layers.0.input_layernorm.weight", [Hidden], _ => ones(Hidden)),
            ("model.layers.0.self_attn.q_proj.weight", [Heads * HeadDim, Hidden], _ => null),
            ("model.layers.0.self_attn.k_proj.weight", [KvHeads * HeadDim, Hidden], _ => null),
            ("model.layers.0.self_attn.v_proj.weight", [KvHeads * HeadDim, Hidden], _ => null),
            ("model.layers.0.self_attn.o_proj.weight", [Hidden, Heads * HeadDim], _ => null),
            ("model.layers.0.self_attn.q_norm.weight", [HeadDim], _ => ones(HeadDim)),
            ("model.layers.0.self_attn.k_norm.weight", [HeadDim], _ => ones(HeadDim)),
            ("model.layers.0.post_attention_layernorm.weight", [Hidden], _ => ones(Hidden)),
            ("model.layers.0.mlp.gate_proj.weight", [Intermediate, Hidden], _ => null),
            ("model.layers.0.mlp.up_proj.weight", [Intermediate, Hidden], _ => null),
            ("model.layers.0.mlp.down_proj.weight", [Hidden, Intermediate], _ => null),
            ("model.norm.weight", [Hidden], _ => ones(Hidden)),
            ("lm_head.weight", [vocabSize, Hidden], r => head.GetValueOrDefault(r)),
        };
        SafeTensorsWriter.WriteFloat32(path, tensors);
    }

    private static double NextGaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

/// <summary>The safetensors layout: u64 header length, a JSON header of dtype/shape/offsets, then raw little-endian data.</summary>
internal static class SafeTensorsWriter
{
    /// <param name="tensors">Row(r) gives row r of a 2-D tensor (or the whole 1-D tensor for r = 0); null means zeros.</param>
    public static void WriteFloat32(string path, List<(string Name, int[] Shape, Func<int, float[]?> Row)> tensors)
    {
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var (name, shape, _) in tensors)
        {
            var bytes = 4L * shape.Aggregate(1L, (a, b) => a * b);
            header.Append($",\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        header.Append('}');
        while ((header.Length + 8) % 8 != 0)
        {
            header.Append(' ');
        }
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        file.Write(length);
        file.Write(Encoding.ASCII.GetBytes(header.ToString()));
        foreach (var (_, shape, row) in tensors)
        {
            var rows = shape.Length == 1 ? 1 : shape[0];
            var width = shape.Length == 1 ? shape[0] : shape[1];
            var buffer = new byte[4 * width];
            for (var r = 0; r < rows; r++)
            {
                var values = row(r);
                if (values is null)
                {
                    Array.Clear(buffer);
                }
                else
                {
                    for (var i = 0; i < width; i++)
                    {
                        BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(4 * i), values[i]);
                    }
                }
                file.Write(buffer);
            }
        }
    }
}
