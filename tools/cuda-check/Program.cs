using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Tools.CudaCheck;

// CudaCheck: runs on the GPU machine (no SDK there, so no `dotnet test`): kernels vs CPU ops, golden models, CPU vs
// CUDA on a realistic shape, decode throughput. usage: CudaCheck [--goldens DIR] [--batches 1,8,32,64] [--prompts 128,384,...]
// [--sweep-models 0.5B,1.5B,7B] (context-sweep's shapes; default 1.5B,7B)
// [--only kernels,prefill,decode,attention-sweep,sampling,sampling-sliced,gemv-sweep,mma-sweep,step-parts,decode-step,goldens,compare,realistic,bench,trace-steps,context-sweep]
string goldens = "testdata/goldens/models";
string only = "kernels,prefill,decode,sampling,gemv-sweep,mma-sweep,step-parts,decode-step,goldens,compare,realistic,bench";
int[] batches = [1, 8, 32, 64];
int[] prompts = [128, 384, 896, 1920, 3968]; // context-sweep's: graphs of 256 to 4096 positions
bool promptsGiven = false; // trace-steps traces prompts of 128 unless --prompts names others
string[] sweepModels = ["1.5B", "7B"];
for (int i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--goldens": goldens = args[i + 1]; break;
        case "--only": only = args[i + 1]; break;
        case "--batches": batches = args[i + 1].Split(',').Select(int.Parse).ToArray(); break;
        case "--prompts": prompts = args[i + 1].Split(',').Select(int.Parse).ToArray(); promptsGiven = true; break;
        case "--sweep-models": sweepModels = args[i + 1].Split(','); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}
if (!CudaRuntime.IsAvailable(out string reason))
{
    Console.WriteLine(reason);
    return 1;
}

void Guard(string section, Action action)
{
    if (!only.Split(',').Contains(section))
    {
        return;
    }
    try
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        action();
        Report.Line($"  ({section}: {clock.Elapsed.TotalSeconds:F1} s)");
    }
    catch (Exception e)
    {
        Report.Check(section, false, $"threw {e}");
    }
}

// Each kernel family in its own section, so a run can give each its own process: a kernel that faults leaves the CUDA
// context unusable for everything after it in the same process.
void KernelSection(string name, Action<CudaDevice, CudaKernels> checks) => Guard(name, () =>
{
    var start = System.Diagnostics.Stopwatch.StartNew();
    using var device = new CudaDevice();
    using var kernels = new CudaKernels(device, KernelCompiler.DefaultCacheDirectory());
    Report.Line($"  kernels compiled/loaded in {start.Elapsed.TotalSeconds:F2} s");
    foreach ((string file, string why) in kernels.OptionalFailures)
    {
        Report.Check($"{file} compiles and loads", false, why);
    }
    checks(device, kernels);
});
KernelSection("kernels", (device, kernels) =>
{
    KernelChecks.Run(device, kernels);
    FusedKernelChecks.Run(device, kernels);
});
KernelSection("prefill", PrefillAttentionChecks.Run);
KernelSection("decode", DecodeAttentionChecks.Run);
KernelSection("attention-sweep", AttentionSweep.Run); // not in the default list: decode attention's builds alone
KernelSection("sampling", SamplingChecks.Run);
KernelSection("sampling-sliced", SamplingChecks.RunSliced); // not in the default list: the sliced path alone, few seeds (for compute-sanitizer)
KernelSection("gemv-sweep", GemvSweep.Run);
KernelSection("mma-sweep", GemvMmaSweep.Run);
KernelSection("step-parts", StepParts.Run);
Guard("decode-step", () =>
{
    DecodeStepChecks.Run();
    DecodeStepChecks.Profile();
});
Guard("goldens", () => GoldenChecks.Run(goldens));
Guard("compare", CompareChecks.Run);
Guard("realistic", CompareChecks.RunRealistic);
Guard("bench", () => DecodeBench.Run(batches));
Guard("trace-steps", () => DecodeBench.TraceSteps(promptsGiven ? prompts : [128])); // not in the default list: for tools/gpu/all.sh run trace
Guard("context-sweep", () => DecodeBench.ContextSweep(prompts, sweepModels)); // not in the default list: decode attention's split policy
Report.Line($"\n{Report.Passes} passed, {Report.Failures} failed");
return Report.Failures == 0 ? 0 : 1;
