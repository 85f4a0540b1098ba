using ReasoningServe.Inference.Model.SafeTensors;

namespace ReasoningServe.Inference.Backends.Cpu.Ops;

/// <summary>x[t, :] = E[token[t], :]   (widened to fp32)</summary>
internal static unsafe class Embedding
{
    public static void Forward(TensorView table, ReadOnlySpan<int> tokens, float* x)
    {
        int hidden = table.Columns;
        for (int t = 0; t < tokens.Length; t++)
        {
            int id = tokens[t];
            if ((uint)id >= (uint)table.Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {id} is outside the vocabulary of {table.Rows}.");
            }
            TensorConvert.ReadRow(table, id, new Span<float>(x + (long)t * hidden, hidden));
        }
    }
}
