"""Makes the reference outputs (goldens) our C# tests compare against, with Hugging Face transformers.

Run on the GPU machine (transformers 5.x, torch, tokenizers; see shared/docs/gpu.md), from the repo root:
    python3 tools/goldens/make_goldens.py --out OUT_DIR
It writes OUT_DIR/tokenizers/NAME.json, OUT_DIR/chat_templates/NAME.json and OUT_DIR/models/ARCH/ (a tiny random-weight
model folder plus golden.json). Inputs: the real tokenizers in testdata/tokenizers/ (tools/fetch-tokenizers.sh) and our own
templates in testdata/templates/*.jinja. Formats are described in testdata/goldens/README.md.
"""

import argparse
import json
import os
import random
import shutil
import sys
import traceback

import tokenizers
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZERS = ["qwen3", "deepseek_v3", "llama3_1"]

# Texts that stress what byte-level BPE gets wrong most easily: whitespace runs, digits, contractions, CJK, emoji with
# joiners and skin tones, combining marks (NFC), special tokens written inline, and long inputs.
TEXTS = [
    "",
    "Hello world",
    "Hello, world! How are you today?",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nand\r\n\r\nblank lines\n\n\n",
    "a          b           c",
    "\n\n\n\n",
    " ",
    "don't I'll we're they've she'd IT'S HE'LL",
    "Numbers: 1 12 123 1234 12345 123456789 3.14159 1,000,000 -42 0x1F",
    "What is 4527 + 389?",
    "def add(a, b):\n    return a + b  # sum\n\nprint(add(1, 2))\n",
    "for (int i = 0; i < n; ++i) { x[i] = y[i] * 2; }",
    "héllo wörld café naïve façade coöperate",
    "e\u0301 versus \u00e9 and A\u030a versus \u00c5",
    "你好，世界！今天天气很好。我们来做数学题：三加五等于八。",
    "こんにちは世界。カタカナとひらがなと漢字。",
    "안녕하세요 세계",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Emoji: 👍 👍🏽 🤖🚀 👨‍👩‍👧‍👦 🇺🇳 ❤️",
    "Math: ∑_{i=1}^n i² = n(n+1)/2, √2 ≈ 1.41421, ∞ ≠ 0, x→∞",
    "URL https://example.com/path?q=1&r=two#frag and email a.b@example.org",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nLet me add 2 and 2. That is 4.\n</think>\n\nThe answer is 4.",
    "text<think>inside</think>after",
    "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>hello<｜end▁of▁sentence｜>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|endoftext|> and <|im_end|><|im_end|>",
    "Mixed: x=1;y=2; z = x**2 + y**2 // 3 % 4 != 5 >= 6",
    "   \n   \n\t\t\n",
    "The quick brown fox jumps over the lazy dog. " * 40,
]


def tokenizer_dir(name):
    return os.path.join(ROOT, "testdata", "tokenizers", name)


class LibraryTokenizer:
    """The `tokenizers` library on tokenizer.json: the reference for token ids and decoding.

    Not transformers' AutoTokenizer: transformers 5 rebuilds DeepSeek-V3's tokenizer as LlamaTokenizerFast (its
    tokenizer_config.json says so) with a Metaspace normalizer that turns spaces into U+2581, which this byte-level
    vocabulary has no tokens for ("Hello world" -> H|ellow|orld, decoded "Helloworld")."""

    def __init__(self, name):
        self.tok = tokenizers.Tokenizer.from_file(os.path.join(tokenizer_dir(name), "tokenizer.json"))
        self.special_ids = [i for i, t in self.tok.get_added_tokens_decoder().items() if t.special]

    def encode(self, text, add_special_tokens):
        return self.tok.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids, skip_special_tokens=False):
        return self.tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def tokens(self, ids):
        return [self.tok.id_to_token(i) for i in ids]

    def __len__(self):
        return self.tok.get_vocab_size(with_added_tokens=True)


def make_tokenizer_goldens(out):
    os.makedirs(os.path.join(out, "tokenizers"), exist_ok=True)
    rng = random.Random(1234)
    for name in TOKENIZERS:
        tok = LibraryTokenizer(name)
        cases = []
        for text in TEXTS:
            ids = tok.encode(text, add_special_tokens=False)
            ids_sp = tok.encode(text, add_special_tokens=True)
            cases.append({
                "text": text,
                "ids": ids,
                "ids_with_special": ids_sp,
                "decoded": tok.decode(ids_sp),
                "decoded_skip_special": tok.decode(ids_sp, skip_special_tokens=True),
                "tokens": tok.tokens(ids),
            })
        # Arbitrary id sequences (including special tokens and ids that split UTF-8 characters): decode semantics.
        n = len(tok)
        decode_cases = []
        special = tok.special_ids
        for i in range(40):
            length = rng.randint(1, 12)
            ids = [rng.randrange(n) for _ in range(length)]
            if i % 4 == 0 and special:
                ids.insert(rng.randrange(len(ids) + 1), rng.choice(special))
            decode_cases.append({
                "ids": ids,
                "decoded": tok.decode(ids),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            })
        # Prefixes of a multi-byte text: every prefix decoded separately (what a streaming detokenizer must agree with).
        emoji_ids = tok.encode("Emoji 🤖👨‍👩‍👧‍👦 中文 done", add_special_tokens=False)
        for k in range(1, len(emoji_ids) + 1):
            decode_cases.append({"ids": emoji_ids[:k], "decoded": tok.decode(emoji_ids[:k]),
                                 "decoded_skip_special": tok.decode(emoji_ids[:k], skip_special_tokens=True)})
        doc = {"tokenizer": name, "reference": f"tokenizers {tokenizers.__version__}", "vocab_size": len(tok),
               "cases": cases, "decode_cases": decode_cases}
        with open(os.path.join(out, "tokenizers", f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
        print(f"tokenizer {name}: {len(cases)} cases, {len(decode_cases)} decode cases, vocab {len(tok)}")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def conversations(arguments_as_string):
    """Chats every template is rendered with; tool-call arguments are a JSON string for templates that concatenate them."""
    args = '{"city": "Paris"}' if arguments_as_string else {"city": "Paris"}
    return [
        ("single_user", [{"role": "user", "content": "What is 2+2?"}], None, {"add_generation_prompt": True}),
        ("single_user_no_generation_prompt", [{"role": "user", "content": "What is 2+2?"}], None,
         {"add_generation_prompt": False}),
        ("system_multi_turn", [
            {"role": "system", "content": "You are a careful math tutor."},
            {"role": "user", "content": "What is 12 * 3?"},
            {"role": "assistant", "content": "36"},
            {"role": "user", "content": "And divided by 4?"},
        ], None, {"add_generation_prompt": True}),
        ("assistant_history_with_think", [
            {"role": "user", "content": "Count the r's in strawberry."},
            {"role": "assistant", "content": "<think>\ns-t-r-a-w-b-e-r-r-y: r at 3, 8, 9.\n</think>\n\nThere are 3."},
            {"role": "user", "content": "And in raspberry?"},
        ], None, {"add_generation_prompt": True}),
        ("assistant_reasoning_content_field", [
            {"role": "user", "content": "Is 7 prime?"},
            {"role": "assistant", "content": "Yes.", "reasoning_content": "7 has no divisors but 1 and 7."},
            {"role": "user", "content": "Is 9?"},
            {"role": "assistant", "content": "No.", "reasoning_content": "9 = 3 * 3."},
        ], None, {"add_generation_prompt": False}),
        ("continue_final_message", [
            {"role": "user", "content": "Write a haiku about GPUs."},
            {"role": "assistant", "content": "Silicon rivers"},
        ], None, {"add_generation_prompt": False, "continue_final_message": True}),
        ("thinking_disabled", [{"role": "user", "content": "Say hi."}], None,
         {"add_generation_prompt": True, "enable_thinking": False}),
        ("thinking_enabled_explicit", [{"role": "user", "content": "Say hi."}], None,
         {"add_generation_prompt": True, "enable_thinking": True}),
        ("unicode_content", [{"role": "user", "content": "Traduis « bonjour » en 日本語 🙂\n\n  with spaces  "}], None,
         {"add_generation_prompt": True}),
        ("tools_and_tool_calls", [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21, "unit": "celsius"}'},
        ], [WEATHER_TOOL], {"add_generation_prompt": True}),
        ("tools_offered_only", [{"role": "user", "content": "Weather in Oslo?"}], [WEATHER_TOOL],
         {"add_generation_prompt": True}),
        ("date_string_kwarg", [{"role": "user", "content": "What day is it?"}], None,
         {"add_generation_prompt": True, "date_string": "26 Jul 2024"}),
    ]


# (golden name, tokenizer, template source: None = the tokenizer's own, else a file under testdata/templates)
TEMPLATE_SETS = [
    ("qwen3", "qwen3", None),
    ("deepseek_v3", "deepseek_v3", None),
    ("llama3_1", "llama3_1", None),
    ("qwq", "qwen3", "qwq.jinja"),
    ("deepseek_r1", "deepseek_v3", "deepseek_r1.jinja"),
    ("llama31_tools", "llama3_1", "llama31_tools.jinja"),
]


def make_chat_template_goldens(out):
    os.makedirs(os.path.join(out, "chat_templates"), exist_ok=True)
    for name, tok_name, template_file in TEMPLATE_SETS:
        tok = AutoTokenizer.from_pretrained(tokenizer_dir(tok_name))
        ids_of = LibraryTokenizer(tok_name)
        if template_file is None:
            template = tok.chat_template
        else:
            path = os.path.join(ROOT, "testdata", "templates", template_file)
            if not os.path.exists(path):
                print(f"chat template {name}: {path} missing, skipped")
                continue
            with open(path, encoding="utf-8") as f:
                template = f.read()
        cases = []
        for case_name, messages, tools, kwargs in conversations(arguments_as_string=tok_name == "deepseek_v3"):
            kw = dict(kwargs)
            add_gen = kw.pop("add_generation_prompt", False)
            cont = kw.pop("continue_final_message", False)
            case = {"name": case_name, "template": template, "messages": messages, "tools": tools,
                    "kwargs": {"add_generation_prompt": add_gen, "continue_final_message": cont, **kw},
                    "bos_token": tok.bos_token, "eos_token": tok.eos_token}
            try:
                text = tok.apply_chat_template(messages, tools=tools, add_generation_prompt=add_gen,
                                               continue_final_message=cont, tokenize=False, chat_template=template, **kw)
                case["text"] = text
                case["ids"] = ids_of.encode(text, add_special_tokens=False)
            except Exception as e:  # a template error is a golden too: our renderer must refuse the same input
                case["error"] = f"{type(e).__name__}: {e}"
            cases.append(case)
        with open(os.path.join(out, "chat_templates", f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump({"tokenizer": tok_name, "transformers": transformers.__version__, "cases": cases}, f,
                      ensure_ascii=False, indent=1)
        print(f"chat template {name}: {len(cases)} cases, {sum('error' in c for c in cases)} errors")


def tiny_config(arch, vocab):
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)
    if arch == "qwen2":
        return transformers.Qwen2Config(**common, rope_theta=10000.0, tie_word_embeddings=False)
    if arch == "qwen3":
        # head_dim 32 differs from hidden/heads = 16, as in the real Qwen3 family.
        return transformers.Qwen3Config(**common, head_dim=32, rope_theta=1000000.0, tie_word_embeddings=True)
    if arch == "llama":
        c = dict(common)
        c["num_key_value_heads"] = 1  # MQA
        return transformers.LlamaConfig(**c, rope_theta=500000.0, tie_word_embeddings=False,
                                        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    raise ValueError(arch)


def randomize(model, seed):
    """transformers initialises biases to zero and norms to one; random values make every weight matter to the goldens."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def greedy_with_logprobs(model, prompt, steps, device):
    ids = list(prompt)
    out, top5, margins = [], [], []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids], device=device)).logits[0, -1].float()
            lp = torch.log_softmax(logits, dim=-1)
            vals, idx = torch.topk(logits, 5)
            margins.append(float(vals[0] - vals[1]))
            top5.append([[int(i), float(lp[i])] for i in idx])
            nxt = int(idx[0])
            out.append(nxt)
            ids.append(nxt)
    return out, top5, min(margins)


SAVE_DTYPES = {"qwen2": torch.bfloat16, "qwen3": torch.bfloat16, "llama": torch.float16}


def make_model_goldens(out, device):
    vocab = 512
    for arch in ["qwen2", "qwen3", "llama"]:
        folder = os.path.join(out, "models", arch)
        for seed in range(100, 120):  # keep the first seed whose greedy choices are not near-ties
            shutil.rmtree(folder, ignore_errors=True)
            torch.manual_seed(seed)
            config = tiny_config(arch, vocab)
            model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
            randomize(model, seed)
            model = model.to(SAVE_DTYPES[arch])
            shard = "60KB" if arch == "qwen2" else "100MB"  # qwen2 is saved sharded, with model.safetensors.index.json
            model.save_pretrained(folder, safe_serialization=True, max_shard_size=shard)
            # The reference runs in fp32 on exactly the stored (rounded) weights, as our CPU backend does.
            ref = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").to(device)
            ref.eval()
            rng = random.Random(seed)
            cases, worst = [], float("inf")
            for length in [1, 7, 23, 41]:
                prompt = [rng.randrange(3, vocab) for _ in range(length)]
                greedy, top5, margin = greedy_with_logprobs(ref, prompt, 24, device)
                worst = min(worst, margin)
                cases.append({"prompt": prompt, "greedy": greedy, "top5": top5, "min_margin": margin})
            if worst > 2e-3:
                break
            print(f"model {arch}: seed {seed} has a near-tie (margin {worst:.2e}), trying the next seed")
        with open(os.path.join(folder, "golden.json"), "w") as f:
            json.dump({"arch": arch, "seed": seed, "transformers": transformers.__version__, "torch": torch.__version__,
                       "reference": "fp32 eager attention on the stored weights", "cases": cases}, f)
        files = sorted(os.listdir(folder))
        print(f"model {arch}: seed {seed}, min margin {worst:.3e}, files {files}")


def make_bf16_goldens(models_dir, device):
    """transformers in bf16 on the same GPU, for the CUDA backend's check: for each golden case, the bf16 greedy tokens,
    their top-5 logprobs, and for how many leading steps bf16 and fp32 transformers agree (only there must CUDA agree)."""
    for arch in ["qwen2", "qwen3", "llama"]:
        folder = os.path.join(models_dir, arch)
        with open(os.path.join(folder, "golden.json")) as f:
            fp32 = json.load(f)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation="eager").to(device)
        model.eval()
        cases = []
        for c in fp32["cases"]:
            greedy, top5, _ = greedy_with_logprobs(model, c["prompt"], len(c["greedy"]), device)
            agree = next((i for i, (a, b) in enumerate(zip(greedy, c["greedy"])) if a != b), len(greedy))
            cases.append({"greedy": greedy, "top5": top5, "agrees_with_fp32_for": agree})
        with open(os.path.join(folder, "golden_bf16.json"), "w") as f:
            json.dump({"arch": arch, "transformers": transformers.__version__, "torch": torch.__version__,
                       "reference": "bf16 eager attention on the same GPU", "cases": cases}, f)
        print(f"bf16 {arch}: fp32/bf16 agree for {[c['agrees_with_fp32_for'] for c in cases]} steps")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", choices=["tokenizers", "chat_templates", "models", "models_bf16"], default=None)
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "testdata", "goldens", "models"),
                    help="with --only models_bf16: the golden model folders to add golden_bf16.json to")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, device {device}")
    steps = [("tokenizers", lambda: make_tokenizer_goldens(args.out)),
             ("chat_templates", lambda: make_chat_template_goldens(args.out)),
             ("models", lambda: make_model_goldens(args.out, device))]
    if args.only == "models_bf16":
        make_bf16_goldens(args.models_dir, device)
        return
    failed = False
    for name, step in steps:
        if args.only and args.only != name:
            continue
        try:
            step()
        except Exception:
            failed = True
            traceback.print_exc()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
