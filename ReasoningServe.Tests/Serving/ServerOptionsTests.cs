using Microsoft.Extensions.Configuration;
using ReasoningServe.Inference.Serving;

namespace ReasoningServe.Tests.Serving;

public class ServerOptionsTests
{
    private static ServerOptions Bind(IDictionary<string, string?> configuration, params string[] args) =>
        ServingExtensions.BindOptions(new ConfigurationBuilder()
            .AddInMemoryCollection(configuration)
            .AddInMemoryCollection(CommandLine.Parse(args))
            .Build());

    [Fact]
    public void Vllm_flags_map_to_the_inference_section()
    {
        var options = Bind(new Dictionary<string, string?>(),
            "--model", "/models/qwen3", "--served-model-name", "qwen3", "qwen", "--port=9001", "--max_model_len", "2048",
            "--reasoning-parser", "qwen3", "--api-key", "k1", "k2", "--load-format", "dummy", "--seed", "-1",
            "--default-chat-template-kwargs", "{\"enable_thinking\": false}", "--tensor-parallel-size", "2",
            "--gpu-memory-utilization", "0.5", "--max-num-seqs", "8", "--max-num-batched-tokens", "512", "--device", "cpu");
        Assert.Equal("/models/qwen3", options.Model);
        Assert.Equal(["qwen3", "qwen"], options.ServedModelName);
        Assert.Equal(9001, options.Port);
        Assert.Equal(2048, options.MaxModelLen);
        Assert.Equal("qwen3", options.ReasoningParser);
        Assert.Equal(["k1", "k2"], options.ApiKey);
        Assert.Equal("dummy", options.LoadFormat);
        Assert.Equal(-1, options.Seed);
        Assert.Equal("{\"enable_thinking\": false}", options.DefaultChatTemplateKwargs);
        Assert.Equal(2, options.TensorParallelSize);
        Assert.Equal(0.5, options.GpuMemoryUtilization);
        Assert.Equal(8, options.MaxNumSeqs);
        Assert.Equal(512, options.MaxNumBatchedTokens);
        Assert.Equal("cpu", options.Device);
        Assert.Equal("127.0.0.1", options.Host);
        options.TensorParallelSize = 1; // mapped above; a value above 1 is refused (see below)
        options.Validate();
    }

    [Fact]
    public void Command_line_wins_over_configuration_and_configuration_fills_the_rest()
    {
        var options = Bind(new Dictionary<string, string?>
        {
            ["Inference:Model"] = "/from/env",
            ["Inference:Port"] = "7000",
            ["Inference:ReasoningParser"] = "deepseek_r1",
        }, "--port", "8001");
        Assert.Equal(8001, options.Port);
        Assert.Equal("/from/env", options.Model);
        Assert.Equal("deepseek_r1", options.ReasoningParser);
    }

    [Fact]
    public void A_positional_model_path_works_like_vllm_serve()
    {
        Assert.Equal("/models/x", Bind(new Dictionary<string, string?>(), "/models/x", "--port", "1").Model);
    }

    [Fact]
    public void Api_keys_come_from_a_scalar_setting_and_VLLM_API_KEY()
    {
        var options = Bind(new Dictionary<string, string?> { ["Inference:ApiKey"] = "a", ["VLLM_API_KEY"] = "b" });
        Assert.Equal(["a", "b"], options.ApiKey);
    }

    [Theory]
    [InlineData("--modle")]
    [InlineData("--enable-lora")]
    public void Unknown_flags_are_refused_with_the_known_list(string flag)
    {
        var error = Assert.Throws<ServerOptionsException>(() => CommandLine.Parse(["--model", "m", flag, "x"]));
        Assert.Contains($"Unknown flag '{flag}'", error.Message);
        Assert.Contains("--served-model-name", error.Message);
    }

    [Fact]
    public void Enforce_eager_is_a_switch_and_takes_no_value_from_the_next_argument()
    {
        Assert.False(Bind(new Dictionary<string, string?>(), "--model", "m").EnforceEager);
        var options = Bind(new Dictionary<string, string?>(), "--enforce-eager", "--model", "m");
        Assert.True(options.EnforceEager);
        Assert.Equal("m", options.Model);
        Assert.False(Bind(new Dictionary<string, string?>(), "--enforce-eager=false", "--model", "m").EnforceEager);
        Assert.Throws<ServerOptionsException>(() => CommandLine.Parse(["--enforce-eager", "m2"]));
    }

    [Fact]
    public void A_flag_without_its_value_is_refused()
    {
        Assert.Contains("needs a value", Assert.Throws<ServerOptionsException>(() => CommandLine.Parse(["--model"])).Message);
    }

    [Fact]
    public void Tensor_parallelism_above_one_is_refused_rather_than_silently_ignored()
    {
        var error = Assert.Throws<ServerOptionsException>(() => new ServerOptions { Model = "m", TensorParallelSize = 4 }.Validate());
        Assert.Contains("--tensor-parallel-size 4", error.Message);
        new ServerOptions { Model = "m", TensorParallelSize = 1 }.Validate();
    }

    [SkippableFact]
    public async Task Device_cuda_without_a_usable_gpu_stops_start_up_naming_what_is_missing()
    {
        Skip.If(ReasoningServe.Inference.Backends.Cuda.CudaRuntime.IsAvailable(out _), "this machine has a usable GPU");
        var error = await Assert.ThrowsAsync<ServerOptionsException>(() => InferenceServer.StartAsync("--device", "cuda"));
        Assert.StartsWith("--device cuda:", error.Message);
        new ServerOptions { Model = "m", Device = "cuda" }.Validate();
    }

    [Theory]
    [InlineData("--reasoning-field", "thoughts", "--reasoning-field")]
    [InlineData("--reasoning-parser", "granite", "--reasoning-parser")]
    [InlineData("--load-format", "gguf", "--load-format")]
    [InlineData("--device", "tpu", "--device")]
    public void Invalid_values_name_their_flag(string flag, string value, string named)
    {
        var options = Bind(new Dictionary<string, string?>(), "--model", "m", flag, value);
        Assert.Contains(named, Assert.Throws<ServerOptionsException>(options.Validate).Message);
    }

    [Fact]
    public void A_missing_model_is_refused()
    {
        Assert.Contains("--model is required", Assert.Throws<ServerOptionsException>(new ServerOptions().Validate).Message);
    }

    [Fact]
    public void Reasoning_field_defaults_to_both()
    {
        Assert.Equal(ReasoningFieldMode.Both, new ServerOptions().ReasoningFieldMode);
        Assert.Equal(ReasoningFieldMode.Reasoning, new ServerOptions { ReasoningField = "reasoning" }.ReasoningFieldMode);
    }
}
