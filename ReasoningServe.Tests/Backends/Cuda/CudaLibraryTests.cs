using System.Globalization;
using System.Text.RegularExpressions;
using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Backends.Cuda.Ops;

namespace ReasoningServe.Tests.Backends.Cuda;

/// <summary>What the CUDA backend does on any machine: find (or clearly fail to find) libraries, embed its kernels, key its cubin cache.</summary>
public sealed class CudaLibraryTests
{
    [Fact]
    public void Search_covers_ld_library_path_then_cuda_home_then_versioned_roots()
    {
        List<string> dirs = CudaLibraries.SearchDirectories("/opt/a:/opt/b", "/opt/cuda-home", ["/usr/local/cuda-13.0"]);
        Assert.Equal("/opt/a", dirs[0]);
        Assert.Equal("/opt/b", dirs[1]);
        Assert.True(dirs.IndexOf("/opt/cuda-home/targets/x86_64-linux/lib") > 1);
        Assert.True(dirs.IndexOf("/usr/local/cuda-13.0/targets/x86_64-linux/lib") > dirs.IndexOf("/opt/cuda-home/lib64"));
        Assert.Equal(dirs.Count, dirs.Distinct().Count());
    }

    [Fact]
    public void Missing_library_message_names_files_and_folders_tried()
    {
        string message = CudaLibraries.MissingMessage(CudaLibraries.Cublas, ["libcublas.so.13", "libcublas.so.12"], ["/opt/x/lib"]);
        Assert.Contains("libcublas.so.13", message);
        Assert.Contains("libcublas.so.12", message);
        Assert.Contains("/opt/x/lib", message);
        Assert.Contains("CUDA_HOME", message);
        Assert.StartsWith("CUDA unavailable", message);
    }

    [Fact]
    public void Driver_is_only_ever_the_versioned_libcuda()
    {
        string message = CudaLibraries.MissingMessage(CudaLibraries.Driver, ["libcuda.so.1"], []);
        Assert.Contains("libcuda.so.1", message);
        Assert.Contains("stub", message);
    }

    [Fact]
    public void Availability_gives_a_reason_whenever_cuda_is_missing()
    {
        bool available = CudaRuntime.IsAvailable(out string reason);
        if (!available)
        {
            Assert.StartsWith("CUDA unavailable", reason);
            Assert.Throws<CudaException>(() => CudaBackend.CreateDummy(new ReasoningServe.Inference.Model.ModelConfig
            {
                Architecture = "Qwen2ForCausalLM",
                VocabSize = 16,
                HiddenSize = 8,
                IntermediateSize = 16,
                NumLayers = 1,
                NumHeads = 1,
                NumKvHeads = 1,
                HeadDim = 8,
            }));
        }
        else
        {
            Assert.Equal("", reason);
        }
    }

    [Fact]
    public void Every_op_kernel_is_embedded_with_its_entry_point()
    {
        string[] expected = ["argmax", "attention_combine", "bias_add", "decode_attention", "decode_step", "embedding", "fill_uniform", "gemv", "gemv_mma", "gemv_o_gate_up", "gqa_attention", "kv_write", "logit_adjust", "paged_attention", "prefill_attention", "qk_norm", "qkv_finish", "rmsnorm", "rope", "sample", "silu_mul"];
        Assert.Equal(expected.Select(e => e + ".cu"), KernelSources.KernelFiles);
        foreach (string name in expected)
        {
            string source = KernelSources.Read(name + ".cu");
            Assert.Contains($"extern \"C\" __global__ void", source);
            Assert.Contains(name == "rmsnorm" ? "rmsnorm(" : name + "(", source);
            // common.cuh directly, or through a header that includes it (below)
            Assert.True(KernelSources.HeaderFiles.Any(h => source.Contains($"#include \"{h}\"")), name);
        }
        Assert.Contains("block_sum", KernelSources.Read(KernelSources.CommonHeader));
        Assert.Equal(["attention_combine.cuh", "common.cuh", "decode_attention.cuh", "gemv.cuh", "tensor_core.cuh"], KernelSources.HeaderFiles);
        foreach (string header in KernelSources.HeaderFiles.Where(h => h != KernelSources.CommonHeader))
        {
            string text = KernelSources.Read(header);
            Assert.True(text.Contains("#include \"common.cuh\"") || text.Contains("#include \"tensor_core.cuh\""), header);
        }
        Assert.Contains("#include \"tensor_core.cuh\"", KernelSources.Read("prefill_attention.cu"));
        Assert.Contains("#include \"decode_attention.cuh\"", KernelSources.Read("decode_attention.cu"));
        Assert.Contains("#include \"decode_attention.cuh\"", KernelSources.Read("decode_step.cu"));
        // Built per model by Ops.DecodeStep, not with the other kernels.
        Assert.Equal(["decode_step.cu"], CudaKernels.PerModelFiles);
        // Opt-in features' kernels may fail to build without taking the backend down; the rest may not.
        Assert.Subset(KernelSources.KernelFiles.ToHashSet(), CudaKernels.OptionalFiles.ToHashSet());
        Assert.DoesNotContain("gqa_attention.cu", CudaKernels.OptionalFiles);
    }

    [Fact]
    public void Every_kernel_lets_its_successor_launch_and_waits_for_its_predecessor_before_touching_memory()
    {
        // With programmatic dependent launch a kernel starts while its predecessor still runs: one that read an
        // activation before wait_for_previous_grid() could see a half-written output.
        var entry = new Regex(@"extern ""C"" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\([^{]*\{\n((?:    .*\n){2})");
        int kernels = 0;
        foreach (string file in KernelSources.KernelFiles)
        {
            foreach (Match m in entry.Matches(KernelSources.Read(file)))
            {
                kernels++;
                string[] first = m.Groups[2].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToArray();
                // gemv.cu's kernels and gemv_o_gate_up only run for one token, so they always let their successor launch early
                bool launches = first[0] == "launch_next_grid();"
                    || (file is "gemv.cu" or "gemv_o_gate_up.cu" && first[0].StartsWith("launch_next_grid_always();", StringComparison.Ordinal))
                    // decode attention of one split lets its successor launch once q is loaded instead
                    || (file == "decode_attention.cu" && first[0] == "launch_next_grid_when_split();" && UnsplitAttentionTriggersAfterQuery(KernelSources.Read("decode_attention.cuh")));
                Assert.True(launches, $"{m.Groups[1].Value} ({file}) starts with '{first[0]}'");
                // gemv.cu's wide entry points request their first weights (never an activation) before they wait, and
                // gemv_wide_qkv its epilogue's step inputs.
                // decode_attention_early (and its deep form) requests older keys (written by earlier steps) before it waits, and q after
                bool waits = first[1] == "wait_for_previous_grid();" || (file == "gemv.cu" && first[1].StartsWith("gemv_wide_rows(", StringComparison.Ordinal)
                    && WeightsOnlyBeforeWait(KernelSources.Read(file)))
                    || (file == "decode_attention.cu" && first[1].StartsWith("decode_attention_block<true", StringComparison.Ordinal)
                        && QueryAfterWaitWhenEarly(KernelSources.Read("decode_attention.cuh")))
                    // gemv_mma's one-wave grids request their first weights (never an activation) before they wait
                    || (file == "gemv_mma.cu" && first[1].StartsWith("gemv_mma_block(", StringComparison.Ordinal) && MmaRequestsOnlyWeightsBeforeWait(KernelSources.Read(file)))
                    // decode_step requests its first weight rows (never an activation) before it waits
                    || (file == "decode_step.cu" && StepRequestsOnlyWeightsBeforeWait(KernelSources.Read(file)))
                    // gemv_o_gate_up's copy warp copies weights and never waits; its compute threads wait before any activation
                    || (file == "gemv_o_gate_up.cu" && OGateUpReadsOnlyWeightsBeforeWait(KernelSources.Read(file)));
                Assert.True(waits, $"{m.Groups[1].Value} ({file}) does not wait for its predecessor first: '{first[1]}'");
            }
        }
        Assert.Equal(KernelSources.KernelFiles.Sum(f => Regex.Matches(KernelSources.Read(f), @"__global__").Count), kernels);
    }

    private static bool UnsplitAttentionTriggersAfterQuery(string attention)
    {
        // split launches trigger at entry; one split on the line right after q's load
        int split = attention.IndexOf("void launch_next_grid_when_split()", StringComparison.Ordinal);
        string[] lines = attention.Split('\n').Select(l => l.Trim()).ToArray();
        int query = Array.FindIndex(lines, l => l.StartsWith("load_q();", StringComparison.Ordinal));
        return split >= 0 && attention.IndexOf("if (gridDim.z > 1) launch_next_grid();", split, StringComparison.Ordinal) > split
            && query >= 0 && lines[query + 1].StartsWith("if (splits == 1) launch_next_grid();", StringComparison.Ordinal);
    }

    private static bool MmaRequestsOnlyWeightsBeforeWait(string mma)
    {
        int block = mma.IndexOf("void gemv_mma_block(", StringComparison.Ordinal);
        int wait = mma.IndexOf("wait_for_previous_grid", block, StringComparison.Ordinal);
        string before = mma[block..wait];
        return block >= 0 && wait > block && before.Contains("__ldg((const uint4*)(rowA", StringComparison.Ordinal)
            && !before.Contains("load_after_wait(", StringComparison.Ordinal) && !before.Contains("xRow +", StringComparison.Ordinal);
    }

    private static bool QueryAfterWaitWhenEarly(string attention)
    {
        // q is read once, after the early branch's wait and the other branch (whose kernels waited on entry)
        int early = attention.IndexOf("    if (EARLY)\n", StringComparison.Ordinal);
        int wait = attention.IndexOf("if (!waited) wait_for_previous_grid();", early, StringComparison.Ordinal);
        int otherBranch = attention.IndexOf("    else\n", wait, StringComparison.Ordinal);
        int query = attention.IndexOf("load_q();", StringComparison.Ordinal);
        return early > 0 && wait > early && otherBranch > wait && query > otherBranch
            && attention.IndexOf("load_q();", query + 1, StringComparison.Ordinal) < 0;
    }

    private static bool StepRequestsOnlyWeightsBeforeWait(string step)
    {
        int start = step.IndexOf("void __launch_bounds__(THREADS, 1) decode_step(", StringComparison.Ordinal);
        string beforeWait = step[start..step.IndexOf("wait_for_previous_grid();", start, StringComparison.Ordinal)];
        return start > 0 && beforeWait.Contains("request_next(cursor, a, ring, s);", StringComparison.Ordinal)
            && !Regex.IsMatch(beforeWait, @"a\.(tokenIds|positions|slots|residual|delta|qkv|attn|gateUp|logits|partial)");
    }

    private static bool OGateUpReadsOnlyWeightsBeforeWait(string source)
    {
        int start = source.IndexOf("void __launch_bounds__(1024) gemv_o_gate_up(", StringComparison.Ordinal);
        int wait = source.IndexOf("wait_for_previous_grid();", start, StringComparison.Ordinal);
        string beforeWait = start > 0 && wait > start ? source[start..wait] : "";
        // the copy warp's bulk copies (of W_o, W_gate_up and the norm's weight) come before the compute threads' wait, and
        // nothing there indexes or casts the activations (attn, residual, act)
        return beforeWait.Contains("bulk_copy_weights(at, wO +", StringComparison.Ordinal) && beforeWait.Contains("bulk_copy_weights(at, gate,", StringComparison.Ordinal)
            && !Regex.IsMatch(beforeWait, @"\b(attn|residual|act)\b\s*(\+|\[)|\)\s*(attn|residual|act)\b")
            && source.IndexOf("load_after_wait((const uint4*)attn", wait, StringComparison.Ordinal) > wait;
    }

    private static bool WeightsOnlyBeforeWait(string gemv)
    {
        int start = gemv.IndexOf("void gemv_wide_rows(", StringComparison.Ordinal);
        string beforeWait = gemv[start..gemv.IndexOf("wait_for_previous_grid();", start, StringComparison.Ordinal)];
        string body = beforeWait[beforeWait.IndexOf('{')..];
        // the first rows through load_weights_before_wait, the loads that ptxas keeps ahead of the wait; and the qkv
        // epilogue's own inputs, which only the host's step-input copy (position, slot), the RoPE table and the bias hold
        int inputs = gemv.IndexOf("QkvRows::Inputs load_qkv_inputs(", StringComparison.Ordinal);
        string inputLoads = inputs < 0 ? "" : gemv[inputs..gemv.IndexOf("\n}", inputs, StringComparison.Ordinal)];
        string[] read = [.. Regex.Matches(inputLoads, @"""l""\(out\.(\w+)").Select(m => m.Groups[1].Value)];
        bool onlyStepInputs = !body.Contains("load_inputs_before_wait(", StringComparison.Ordinal)
            || (read.Length == 4 && read.All(r => r is "positions" or "slots" or "freq_of" or "bias"));
        return body.Contains("load_wide_rows<Rows, true>(wv, w,", StringComparison.Ordinal) && !body.Contains("in.load", StringComparison.Ordinal)
            && !body.Contains("in.fetch", StringComparison.Ordinal) && !body.Contains("y[", StringComparison.Ordinal) && onlyStepInputs
            && gemv.Contains("asm volatile(\"ld.global.L1::no_allocate.L2::cache_hint.v4.u32", StringComparison.Ordinal);
    }

    [Fact]
    public void Balanced_wide_grids_share_the_rows_exactly_in_one_wave()
    {
        // 1.5B on 132 SMs at 8 blocks each (1056 resident): gate_up's 8960 pairs, o's 1536 rows, qkv's 1024 pairs
        Assert.Equal(1056, Gemm.WideBlocks(1056, 8960, 16, balanced: false));
        Assert.Equal(896, Gemm.WideBlocks(1056, 8960, 16, balanced: true)); // 10 pairs each
        Assert.Equal(1056, Gemm.WideBlocks(1056, 1536, 32, balanced: true)); // no count from 792 to 1056 divides 1536
        Assert.Equal(1024, Gemm.WideBlocks(1056, 1024, 16, balanced: true)); // fewer groups than resident blocks: one each
        // more than one wave (7B gate_up: 18944 pairs at most 16 a block) keeps its count
        Assert.Equal(1184, Gemm.WideBlocks(660, 18944, 16, balanced: true));
        // no exact share within 3/4: unchanged
        Assert.Equal(1000, Gemm.WideBlocks(1000, 1999, 16, balanced: true));
    }

    [Fact]
    public void Decode_attention_launches_match_the_macros_its_kernels_are_built_with()
    {
        // The host asks for the deep rings' dynamic shared memory and bounds the splits that attention_combine merges.
        Assert.Contains($"#define ATT_DEEP_SMEM_BYTES {DecodeAttention.DeepSharedBytes}\n", KernelSources.Read("decode_attention.cuh"));
        Assert.Contains($"#define MAX_SPLITS {DecodeAttention.MaxSplits}\n", KernelSources.Read("attention_combine.cuh"));
    }

    [Fact]
    public void Sliced_sampling_and_argmax_launches_match_the_macros_their_kernels_are_built_with()
    {
        // The host launches a row's slices in blocks of SLICE_THREADS, sizes their scratch by MAX_SLICES and SLICE_KEEP, and
        // takes only vocabularies that MAX_SLICES slices of SLICE_THREADS x SLICE_PER_THREAD entries hold.
        string sample = KernelSources.Read("sample.cu"), argmax = KernelSources.Read("argmax.cu");
        Assert.Contains($"#define SLICE_THREADS {Sample.SliceThreads}\n", sample);
        Assert.Contains($"#define SLICE_PER_THREAD {Sample.SlicePerThread} ", sample);
        Assert.Contains($"#define SLICE_MAX_TOP_K {Sample.SlicedMaxTopK} ", sample);
        Assert.Contains("#define SLICE_KEEP (2 * (SLICE_MAX_TOP_K + 1)) ", sample);
        Assert.Equal(2 * (Sample.SlicedMaxTopK + 1), Sample.SliceKeep);
        Assert.Contains($"#define MAX_SLICES {Sample.MaxSlices} ", sample);
        Assert.Contains($"#define SLICE_THREADS {ArgMax.SliceThreads}\n", argmax);
        Assert.Contains($"#define SLICE_PER_THREAD {ArgMax.SlicePerThread} ", argmax);
        // Qwen's vocabulary fits; one past what the slices hold goes to the block-a-row kernels, and so do large batches
        Assert.True(Sample.Sliced(1, 151936) && ArgMax.Sliced(1, 151936));
        Assert.False(Sample.Sliced(1, Sample.MaxSlices * Sample.SliceEntries + 1) || ArgMax.Sliced(1, ArgMax.MaxSlices * ArgMax.SliceEntries + 1));
        Assert.False(Sample.Sliced(Sample.SlicedMaxRows + 1, 151936) || ArgMax.Sliced(ArgMax.SlicedMaxRows + 1, 151936));
        Assert.Equal(0, Sample.ScratchBytes(Sample.SlicedMaxRows + 1, 151936));
        // and a flat row's p: a float4 for each of the merge's THREADS threads and each 4 * THREADS entries (38 for Qwen's)
        Assert.Contains("#define THREADS 1024\n", sample);
        Assert.Equal(2L * (Sample.MaxSlices * (16 + 8 * Sample.SliceKeep) + 16 * 1024 * 38), Sample.ScratchBytes(2, 151936));
    }

    [Fact]
    public void Prefill_attention_launches_match_the_macros_its_kernels_are_built_with()
    {
        // The host sizes prefill_attention_pipelined's dynamic shared memory and its grid of head pairs from these.
        string prefill = KernelSources.Read("prefill_attention.cu");
        Assert.Contains($"#define PIPE_SMEM_BYTES_PER_DIM {PrefillAttention.PipelinedSharedBytesPerDim}\n", prefill);
        Assert.Contains($"#define PIPE_HEADS {PrefillAttention.PipelinedHeads}\n", prefill);
        Assert.Equal(98304, PrefillAttention.PipelinedSharedBytes(128));
    }

    [Fact]
    public void Gemv_launch_shapes_match_the_macros_gemv_cu_is_built_with()
    {
        // The host sizes gemv.cu's grids from these; a build that disagreed would leave rows or chunks of k unread.
        string gemv = KernelSources.Read("gemv.cu");
        int Macro(string name) => int.Parse(Regex.Match(gemv, $@"#define {name} (\d+)\n").Groups[1].Value, CultureInfo.InvariantCulture);
        // gemv_mma.cu: at most MAX_WARPS warps a block, and 8 tokens (one n-tile of its MMAs).
        int maxWarps = int.Parse(Regex.Match(KernelSources.Read("gemv_mma.cu"), @"#define MAX_WARPS (\d+)\n").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(Gemm.MmaWarps <= maxWarps);
        Assert.Equal(8, Gemm.MaxMmaTokens);
        Assert.Equal(Gemm.MaxGemvTokens, Macro("MAXT"));
        Assert.Equal(Gemm.GemvRowsPerBlock, Macro("ROWS") * 8);
        Assert.Equal(Gemm.GemvNormRowsPerBlock, Macro("NORM_ROWS") * 8);
        Assert.Equal(Gemm.GemvSiluRowsPerBlock, Macro("SILU_ROWS") * 8);
        Assert.Equal(Gemm.WideChunksPerThread, Macro("CPT"));
        Assert.Equal(Gemm.WideMaxRowsPerBlock, Macro("WIDE_MAX_ROWS"));
        Assert.Contains($"__launch_bounds__({Gemm.WideMaxThreads}) gemv_wide(", gemv);
        // decode_step.cu lays its projections out as the wide layout does, and sizes its ring slots by the same CPT
        Assert.Contains($"#define CPT_MAX {Gemm.WideChunksPerThread} ", KernelSources.Read("decode_step.cu"));
        // and records its profile in the layout DecodeStep reads back
        Assert.Contains($"#define LAYER_EVENTS {DecodeStep.LayerEvents}\n", KernelSources.Read("decode_step.cu"));
        // 8 warps per row-per-warp block; a wide block holds a whole row of k in at most 512 threads
        Assert.Contains("__launch_bounds__(256) gemv(", gemv);
        Assert.Equal(320, Gemm.WideThreads(18944, 8));
        Assert.Equal(480, Gemm.WideThreads(18944, 5));
        Assert.Equal(96, Gemm.WideThreads(3584, 5));
        Assert.Equal(32, Gemm.WideThreads(896, 5));
    }

    [Fact]
    public void Prefill_tiles_hold_at_most_64_tokens_of_one_sequence()
    {
        int[] queryStart = [0, 300, 400, 401, 465];
        int[] first = new int[PrefillAttention.MaxTiles(465, 4)], count = new int[first.Length];
        int tiles = PrefillAttention.BuildTiles(queryStart, first, count);
        Assert.Equal([0, 64, 128, 192, 256, 300, 364, 400, 401], first[..tiles]);
        Assert.Equal([64, 64, 64, 64, 44, 64, 36, 1, 64], count[..tiles]);
        Assert.True(PrefillAttention.IsSupported(128) && PrefillAttention.IsSupported(64) && !PrefillAttention.IsSupported(96));
    }

    [Fact]
    public void Cubin_cache_key_changes_with_source_arch_compiler_and_options()
    {
        string key = KernelCompiler.CacheKey("rope.cu", "src", "hdr", ["--gpu-architecture=sm_90"], 90, (13, 0));
        Assert.StartsWith("rope-sm_90-nvrtc13.0-", key);
        Assert.EndsWith(".cubin", key);
        Assert.Equal(key, KernelCompiler.CacheKey("rope.cu", "src", "hdr", ["--gpu-architecture=sm_90"], 90, (13, 0)));
        Assert.NotEqual(key, KernelCompiler.CacheKey("rope.cu", "src2", "hdr", ["--gpu-architecture=sm_90"], 90, (13, 0)));
        Assert.NotEqual(key, KernelCompiler.CacheKey("rope.cu", "src", "hdr2", ["--gpu-architecture=sm_90"], 90, (13, 0)));
        Assert.NotEqual(key, KernelCompiler.CacheKey("rope.cu", "src", "hdr", ["--gpu-architecture=sm_80"], 80, (13, 0)));
        Assert.NotEqual(key, KernelCompiler.CacheKey("rope.cu", "src", "hdr", ["--gpu-architecture=sm_90"], 90, (12, 8)));
    }

    [SkippableFact]
    public void Every_kernel_compiles_to_cubin_with_nvrtc_and_is_then_served_from_the_cache()
    {
        Skip.IfNot(CudaLibraries.TryLoad(CudaLibraries.Nvrtc, out _, out string error), error);
        Skip.If(CudaLibraries.FindIncludeDirectory() is null, "cuda_bf16.h not found (set CUDA_HOME)");
        CudaLibraries.Register();
        string cache = Path.Combine(Path.GetTempPath(), "rs-cubin-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var compiler = new KernelCompiler(90, cache);
            foreach (string file in KernelSources.KernelFiles)
            {
                byte[] cubin = compiler.Compile(file);
                Assert.True(cubin.Length > 4 && cubin[0] == 0x7F && cubin[1] == (byte)'E', $"{file}: not an ELF cubin");
            }
            string[] cached = Directory.GetFiles(cache, "*.cubin");
            Assert.Equal(KernelSources.KernelFiles.Count, cached.Length);
            byte[] marker = [0x7F, (byte)'E', (byte)'L', (byte)'F', 42];
            string rope = cached.Single(f => Path.GetFileName(f).StartsWith("rope-sm_90-", StringComparison.Ordinal));
            File.WriteAllBytes(rope, marker);
            Assert.Equal(marker, compiler.Compile("rope.cu"));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
