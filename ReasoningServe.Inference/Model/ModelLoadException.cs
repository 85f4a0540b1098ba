namespace ReasoningServe.Inference.Model;

/// <summary>
/// A model folder could not be loaded. The message always names the file and what is wrong with it, because the person
/// reading it is usually looking at a half-downloaded or hand-edited checkpoint.
/// </summary>
internal sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);
