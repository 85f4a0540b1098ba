namespace ReasoningServe.Inference.Backends.Cuda.Native;

/// <summary>A CUDA, NVRTC or cuBLAS call failed, or a library is missing; the message names the call and the error.</summary>
internal sealed class CudaException(string message) : Exception(message);
