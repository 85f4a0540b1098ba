using ReasoningServe.Inference.Backends.Cpu.Ops;
using ReasoningServe.Inference.Model;
using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cpu;

/// <summary>One decoder layer's parameters as the CPU ops want them: big matrices as stored, small vectors in fp32.</summary>
internal sealed class CpuLayer
{
    public CpuLayer(LayerWeights w)
    {
        InputNorm = TensorConvert.ToSingleArray(w.InputNorm);
        PostAttentionNorm = TensorConvert.ToSingleArray(w.PostAttentionNorm);
        QNorm = w.QNorm is null ? null : TensorConvert.ToSingleArray(w.QNorm);
        KNorm = w.KNorm is null ? null : TensorConvert.ToSingleArray(w.KNorm);
        QProj = new Linear(w.QProj, ToArray(w.QBias));
        KProj = new Linear(w.KProj, ToArray(w.KBias));
        VProj = new Linear(w.VProj, ToArray(w.VBias));
        OProj = new Linear(w.OProj, ToArray(w.OBias));
        GateProj = new Linear(w.GateProj, ToArray(w.GateBias));
        UpProj = new Linear(w.UpProj, ToArray(w.UpBias));
        DownProj = new Linear(w.DownProj, ToArray(w.DownBias));
    }

    public float[] InputNorm { get; }
    public float[] PostAttentionNorm { get; }
    public float[]? QNorm { get; }
    public float[]? KNorm { get; }
    public Linear QProj { get; }
    public Linear KProj { get; }
    public Linear VProj { get; }
    public Linear OProj { get; }
    public Linear GateProj { get; }
    public Linear UpProj { get; }
    public Linear DownProj { get; }

    private static float[]? ToArray(TensorView? tensor) => tensor is null ? null : TensorConvert.ToSingleArray(tensor);
}
