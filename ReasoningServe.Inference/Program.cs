using ReasoningServe.Inference.Benchmarks;
using ReasoningServe.Inference.Serving;

if (args is ["bench", .. var benchArgs])
{
    return await BenchCommand.RunAsync(benchArgs, Console.Out, Console.Error);
}

InferenceApplication.Build(args).Run();
return 0;
