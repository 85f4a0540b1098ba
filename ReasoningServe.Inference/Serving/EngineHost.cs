using ReasoningServe.Inference.Engine;

namespace ReasoningServe.Inference.Serving;

/// <summary>Creates the engine for the model folder on the selected device (auto = CPU until the CUDA backend lands).</summary>
internal static class EngineHost
{
    public static IEngineClient Start(ServerOptions options, string folder, int maxModelLen) =>
        throw new ServerOptionsException(
            "The engine is not available in this build yet (issue 2); cannot serve " + folder + ".");
}
