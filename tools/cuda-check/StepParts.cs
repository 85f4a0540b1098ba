using ReasoningServe.Inference.Backends.Cuda;
using ReasoningServe.Inference.Backends.Cuda.Native;
using ReasoningServe.Inference.Model;
using Gpu = ReasoningServe.Inference.Backends.Cuda.Ops;

namespace ReasoningServe.Tools.CudaCheck;

/// <summary>
/// Where a one-token decode step's time goes inside a CUDA graph, which the bench's eager profile cannot say (its events
/// between ops add their own gaps). The backend's own launches for the 1.5B and 7B shapes are captured in parts: the
/// layers' GEMMs alone (gemv.cu as the backend picks it, in each of its wide-layout settings, the SiLU fused as the
/// backend fuses it, the lm_head), then with the two add_rmsnorms per layer. The bench's full graph step minus these is qkv_finish, attention and the step's ends.
/// Each layer reads other weights than the layers next to it (a pool of several layers' worth, beyond L2).
/// </summary>
internal static unsafe class StepParts
{
    private const long LayerPoolBytes = 2L << 30;
    private const int Runs = 20;

    public static void Run(CudaDevice device, CudaKernels kernels)
    {
        Report.Section("7. a one-token decode step's parts in a CUDA graph (the backend's launches; compare the bench's full graph step)");
        nint stream = device.Stream;
        using var gemm = new Gpu.Gemm(stream, kernels, device.MultiprocessorCount);
        Report.Line($"  gemv.cu for one token: {gemm.UsesGemv(1, 8)}; SiLU fused: {(gemm.FusesSiluIntoGateUp(1, 8, 8) ? "into gate_up" : gemm.FuseSilu ? "into down" : "no")}; wide layout: {gemm.Wide}; programmatic dependent launch: {kernels.ProgrammaticLaunch}");
        foreach ((string name, ModelConfig c) in new[] { ("Qwen2.5-1.5B", DecodeBench.Qwen15B), ("Qwen2.5-7B", DecodeBench.Qwen7B) })
        {
            int h = c.HiddenSize, inter = c.IntermediateSize, qSize = c.QSize, qkv = c.QSize + 2 * c.KvSize, vocab = c.VocabSize, layers = c.NumLayers;
            long layerBytes = 2L * ((long)qkv * h + (long)h * qSize + 2L * inter * h + (long)h * inter), lmBytes = 2L * vocab * h;
            int slots = (int)Math.Clamp(LayerPoolBytes / layerBytes, 1, layers);
            long weightBytes = layers * layerBytes + lmBytes;
            using DeviceBuffer pool = new(slots * layerBytes + lmBytes), norm = new(2L * h), residual = new(2L * h), delta = new(2L * h),
                normed = new(2L * h), attn = new(2L * qSize), qkvOut = new(2L * qkv), gateUp = new(2L * 2 * inter), act = new(2L * inter),
                logits = new(4L * vocab);
            Gpu.FillUniform.Launch(kernels, stream, pool.Pointer, pool.Bytes / 2, seed: 11, scale: 0.05f, constant: 0f);
            foreach ((DeviceBuffer buffer, ulong seed) in new[] { (norm, 12UL), (residual, 13UL), (delta, 14UL), (normed, 15UL), (attn, 16UL), (gateUp, 17UL) })
            {
                Gpu.FillUniform.Launch(kernels, stream, buffer.Pointer, buffer.Bytes / 2, seed, scale: 1f, constant: 0f);
            }

            // One step's launches as the backend makes them for one token (CudaBackend.Enqueue), less embedding,
            // qkv_finish, attention and the final norm/argmax.
            void Normalize(bool norms)
            {
                if (norms)
                {
                    Gpu.RmsNorm.LaunchAdd(kernels, stream, residual.Pointer, delta.Pointer, norm.Pointer, normed.Pointer, 1, h, 1e-6f);
                }
            }

            void NormThenProject(bool norms, ulong weight, int outFeatures, ulong output)
            {
                Normalize(norms);
                gemm.Run(normed.Pointer, 1, weight, outFeatures, h, output, outFeatures);
            }

            void Step(bool norms)
            {
                for (int l = 0; l < layers; l++)
                {
                    ulong w = pool.Pointer + (ulong)(l % slots * layerBytes);
                    ulong wQkv = w, wO = wQkv + 2UL * (ulong)(qkv * h), wGateUp = wO + 2UL * (ulong)(h * qSize), wDown = wGateUp + 4UL * (ulong)inter * (ulong)h;
                    NormThenProject(norms, wQkv, qkv, qkvOut.Pointer);
                    gemm.Run(attn.Pointer, 1, wO, h, qSize, delta.Pointer, h);
                    if (gemm.FusesSiluIntoGateUp(1, h, inter))
                    {
                        Normalize(norms);
                        gemm.RunGateUpSilu(normed.Pointer, 1, wGateUp, inter, h, act.Pointer);
                        gemm.Run(act.Pointer, 1, wDown, h, inter, delta.Pointer, h);
                    }
                    else
                    {
                        NormThenProject(norms, wGateUp, 2 * inter, gateUp.Pointer);
                        if (gemm.FusesSilu(1, inter))
                        {
                            gemm.RunSilu(gateUp.Pointer, 1, wDown, h, inter, delta.Pointer, h);
                        }
                        else
                        {
                            Gpu.SiluAndMul.Launch(kernels, stream, gateUp.Pointer, act.Pointer, inter, 1);
                            gemm.Run(act.Pointer, 1, wDown, h, inter, delta.Pointer, h);
                        }
                    }
                }
                gemm.Run(normed.Pointer, 1, pool.Pointer + (ulong)(slots * layerBytes), vocab, h, logits.Pointer, vocab, floatOutput: true);
            }

            Gpu.Gemm.WideRows configured = gemm.Wide;
            foreach (Gpu.Gemm.WideRows wide in Enum.GetValues<Gpu.Gemm.WideRows>())
            {
                gemm.Wide = wide;
                double gemvOnly = TimeGraph(stream, () => Step(norms: false)), withNorms = TimeGraph(stream, () => Step(norms: true));
                Report.Line($"  {name,-13} wide layout {wide,-9}: GEMMs only {gemvOnly,6:F3} ms ({weightBytes / (gemvOnly * 1e-3) / 1e12:F2} TB/s of {weightBytes / 1e9:F2} GB); "
                    + $"with 2 add_rmsnorms per layer {withNorms,6:F3} ms (+{(withNorms - gemvOnly) * 1e3 / (2 * layers):F1} us each)");
            }
            gemm.Wide = configured;
        }
    }

    /// <summary>Mean ms of one replay of a graph captured from <paramref name="enqueue"/>.</summary>
    private static double TimeGraph(nint stream, Action enqueue)
    {
        nint graph = 0, exec = 0;
        CudaDriver.Check(CudaDriver.cuStreamBeginCapture(stream, CudaDriver.StreamCaptureModeRelaxed), "cuStreamBeginCapture");
        try
        {
            enqueue();
        }
        finally
        {
            CudaDriver.Check(CudaDriver.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
        }
        try
        {
            CudaDriver.Check(CudaDriver.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
            nint instance = exec;
            return EventTimer.MeanMilliseconds(stream, Runs, () => CudaDriver.Check(CudaDriver.cuGraphLaunch(instance, stream), "cuGraphLaunch"));
        }
        finally
        {
            if (exec != 0)
            {
                CudaDriver.cuGraphExecDestroy(exec);
            }
            CudaDriver.cuGraphDestroy(graph);
        }
    }
}
