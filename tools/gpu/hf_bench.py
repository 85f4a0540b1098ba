"""Hugging Face transformers on the shapes our CUDA benchmark uses, for the comparison table of issue 8.

Run on the GPU machine (torch + transformers there), ideally in the same call as tools/cuda-check's decode benchmark:
    python3 tools/gpu/hf_bench.py --out $OUT/hf_bench.json [--shapes 0.5b,1.5b,7b] [--compile]
Random bf16 weights (the equivalent of --load-format dummy), eager generate with its default dynamic KV cache, or, with
--compile, generate with a static cache and torch.compile (transformers' fastest documented settings), timed after a warm-up.
Decode tokens/s = new tokens / (generate time - prefill time of the same prompt).
"""

import argparse
import json
import time

import torch
import transformers

SHAPES = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}


def sync():
    torch.cuda.synchronize()


def timed(fn, repeats=1):
    fn()  # warm-up
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth():
    """Device-to-device copy of 1 GiB: bytes read + written per second, the roofline's denominator."""
    a = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    seconds = timed(lambda: b.copy_(a), repeats=5)
    return 2 * a.numel() / seconds


def build(shape):
    config = transformers.Qwen2Config(**SHAPES[shape], max_position_embeddings=4096, rope_theta=1000000.0)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return model, weight_bytes


def prompt(batch, length):
    return torch.randint(1000, 100000, (batch, length), device="cuda")


def generate(model, ids, new_tokens, **kwargs):
    return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False, pad_token_id=0, **kwargs)


def decode_rate(model, batch, prompt_len, new_tokens, **kwargs):
    ids = prompt(batch, prompt_len)
    with torch.inference_mode():
        t_prefill = timed(lambda: generate(model, ids, 1, **kwargs), repeats=2)
        t_total = timed(lambda: generate(model, ids, new_tokens, **kwargs), repeats=2)
    return batch * (new_tokens - 1) / (t_total - t_prefill), t_prefill, t_total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="0.5b,1.5b,7b")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "transformers": transformers.__version__, "copy_bandwidth_bytes_per_s": copy_bandwidth(), "shapes": {}}
    print(f"{result['device']}: copy bandwidth {result['copy_bandwidth_bytes_per_s'] / 1e12:.2f} TB/s", flush=True)
    # compiling takes minutes, so --compile measures only the compiled mode (the plain run measured eager)
    modes = [("static_compile", {"cache_implementation": "static"})] if args.compile else [("eager", {})]
    for shape in args.shapes.split(","):
        model, weight_bytes = build(shape)
        r = {"weight_bytes": weight_bytes}
        for mode, kwargs in modes:
            # static_compile: with a static cache, generate compiles the decoding forward itself (its compile_config);
            # wrapping model.forward in torch.compile by hand made CUDA-graph outputs be overwritten between steps
            m = {}
            for batch in (1, 8, 32):
                rate, t_prefill, t_total = decode_rate(model, batch, 128, 128, **kwargs)
                m[f"decode_batch{batch}_tok_s"] = rate
                print(f"{shape} {mode} batch {batch}: {rate:.0f} tok/s (prefill {t_prefill * 1e3:.1f} ms, "
                      f"generate {t_total * 1e3:.0f} ms)", flush=True)
            with torch.inference_mode():
                ids = prompt(1, 2048)
                m["ttft_2048_ms"] = 1e3 * timed(lambda: generate(model, ids, 1, **kwargs), repeats=3)
            print(f"{shape} {mode} TTFT(2048) {m['ttft_2048_ms']:.1f} ms", flush=True)
            if shape == "7b":
                # 64 concurrent streams, 1024-token prompts, 512-token outputs (issue 8's throughput point); timed() warms
                # up once first, which is also where the compiled mode compiles this batch's graphs
                ids = prompt(64, 1024)
                with torch.inference_mode():
                    seconds = timed(lambda: generate(model, ids, 512, **kwargs), repeats=1)
                m["batch64_in1024_out512_output_tok_s"] = 64 * 512 / seconds
                print(f"7b {mode} 64x(1024->512): {m['batch64_in1024_out512_output_tok_s']:.0f} output tok/s", flush=True)
            r[mode] = m
            with open(args.out, "w") as f:
                json.dump(result | {"shapes": result["shapes"] | {shape: r}}, f, indent=1)
        result["shapes"][shape] = r
        del model
        torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
