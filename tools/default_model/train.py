"""Trains ReasoningServe's default model: a small Qwen3 decoder that reasons step by step about arithmetic.

    python3 train.py --out DIR [--minutes 5] [--seed 0]      # the real run (one H100, ~5 minutes of training)
    python3 train.py --out DIR --smoke                       # ~20 steps: the whole pipeline in seconds

Writes DIR as a Hugging Face model folder: config.json, generation_config.json, model.safetensors (bf16),
tokenizer.json, tokenizer_config.json (with the chat template), README.md (the model card), training.json.

Order of work, each step checked before the next costs GPU time:
 1. tokenizer (build_tokenizer.py) and config.json, then the tokenizer as transformers loads it, checked against
    our reference encoder and chat template;
 2. a pool of training examples, generated and tokenized in parallel worker processes (before CUDA starts);
 3. training: bf16 autocast, AdamW, warmup then cosine decay over the time budget, loss on the assistant turn only;
 4. save in bf16, reload, compare logits, greedy-answer a few held-out questions, check the file size.
"""

from __future__ import annotations

import os

# Data workers are forked: tokenizers must not start its thread pool first, and the CUDA check must not start CUDA.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, Qwen3Config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import build_tokenizer  # noqa: E402
import chat_format  # noqa: E402
import evaluate  # noqa: E402
import tasks  # noqa: E402

SHAPE = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=8,
             num_key_value_heads=4, head_dim=32, max_position_embeddings=512, rms_norm_eps=1e-6,
             tie_word_embeddings=True, hidden_act="silu", attention_bias=False)
ROPE_THETA = 10000.0
MAX_MODEL_BYTES = 15_000_000
MAX_TRAIN_TOKENS = 256      # every training sequence fits (selftest.py checks the longest is below this)
SYSTEM_SHARE = 0.10         # examples with the common system prompt, so a system message does not derail the model
NO_THINK_SHARE = 0.03       # examples rendered with enable_thinking=false (answer only)
CHUNK = 4000                # examples per worker job

T0 = time.time()


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"FATAL: {msg}", flush=True)
    raise SystemExit(1)


# ---------------------------------------------------------------------------------------------- tokenizer + config

def make_config(vocab_size: int, ids: dict[str, int]) -> Qwen3Config:
    config = Qwen3Config(vocab_size=vocab_size, rope_theta=ROPE_THETA, bos_token_id=ids[chat_format.ENDOFTEXT],
                         eos_token_id=ids[chat_format.IM_END], pad_token_id=ids[chat_format.ENDOFTEXT],
                         use_cache=True, **SHAPE)
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(config, "rope_theta", None)) if isinstance(rope, dict) else None
    if theta is None:
        theta = getattr(config, "rope_theta", None)
    if theta is None or abs(float(theta) - ROPE_THETA) > 1e-3:
        fail(f"rope theta is {theta}, expected {ROPE_THETA}: transformers changed how Qwen3Config takes it")
    for key, value in SHAPE.items():
        if getattr(config, key) != value:
            fail(f"config.{key} = {getattr(config, key)!r}, expected {value!r}")
    return config


def check_tokenizer(tok, tok_json: dict) -> None:
    """Fails before any training when transformers does not load the tokenizer the way we built it."""
    ref = build_tokenizer.ReferenceTokenizer(tok_json)
    size = build_tokenizer.vocab_size(tok_json)
    if len(tok) != size:
        fail(f"transformers sees {len(tok)} tokens, we built {size}")
    for content, _ in chat_format.ADDED_TOKENS:
        if tok.encode(content, add_special_tokens=False) != [ref.added[content]]:
            fail(f"{content} is not the single token {ref.added[content]}: {tok.encode(content, add_special_tokens=False)}")
    if tok.eos_token_id != ref.added[chat_format.IM_END] or tok.pad_token_id != ref.added[chat_format.ENDOFTEXT]:
        fail(f"eos/pad ids are {tok.eos_token_id}/{tok.pad_token_id}")
    if tok.encode("9081", add_special_tokens=False) != [ref.vocab[d] for d in "9081"]:
        fail("digits are not single tokens")
    exs = tasks.training_examples(123, 600, frozenset()) + [tasks.subtraction(4819, 4827), tasks.addition(9999, 9999)]
    mismatches = 0
    for i, ex in enumerate(exs):
        system = chat_format.DEFAULT_SYSTEM if i % 3 == 0 else None
        thinking = i % 5 != 0
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": ex.question}]
        kw = {} if thinking else {"enable_thinking": False}
        rendered = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, **kw)
        want = chat_format.render_prompt(ex.question, system, thinking)
        if rendered != want:
            fail(f"apply_chat_template differs from render_prompt:\n{rendered!r}\n{want!r}")
        text = want + chat_format.completion(ex.reasoning, ex.answer, thinking)
        ids = tok.encode(text, add_special_tokens=False)
        if tok.decode(ids, skip_special_tokens=False) != text:
            fail(f"decode(encode(x)) != x for {text!r}")
        if ids != ref.encode(text):
            mismatches += 1
            if mismatches <= 3:
                log(f"WARNING: transformers and the reference encoder differ on {text[:80]!r}")
    if mismatches:
        log(f"WARNING: {mismatches}/{len(exs)} texts tokenize differently from build_tokenizer.ReferenceTokenizer; "
            "training uses transformers' tokens, but report this")
    kept = tok.decode(tok.encode("<think>\nx\n</think>\n\n1<|im_end|>", add_special_tokens=False),
                      skip_special_tokens=True)
    if "<think>" not in kept or "<|im_end|>" in kept:
        log(f"WARNING: skip_special_tokens gives {kept!r} (think tags should stay, <|im_end|> should go)")
    log(f"tokenizer ok: {len(tok)} tokens, {len(exs)} texts round-trip, chat template matches")


# ---------------------------------------------------------------------------------------------------- data pool

_WORKER: dict = {}


def _worker_init(tok, exclude: frozenset) -> None:
    _WORKER["tok"] = tok
    _WORKER["exclude"] = exclude


def _encode_chunk(job: tuple[int, int]):
    """(seed, count) -> token ids [count, MAX_TRAIN_TOKENS] int32 (pad-filled), prompt lengths, total lengths."""
    seed, count = job
    tok, exclude = _WORKER["tok"], _WORKER["exclude"]
    rng = random.Random(seed * 7919 + 1)
    prompts, texts = [], []
    for ex in tasks.training_examples(seed, count, exclude):
        system = chat_format.DEFAULT_SYSTEM if rng.random() < SYSTEM_SHARE else None
        thinking = rng.random() >= NO_THINK_SHARE
        prompt = chat_format.render_prompt(ex.question, system, thinking)
        prompts.append(prompt)
        texts.append(prompt + chat_format.completion(ex.reasoning, ex.answer, thinking))
    p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    t_ids = tok(texts, add_special_tokens=False)["input_ids"]
    ids = np.full((count, MAX_TRAIN_TOKENS), tok.pad_token_id, dtype=np.int32)
    plen = np.zeros(count, dtype=np.int32)
    tlen = np.zeros(count, dtype=np.int32)
    for i, (p, t) in enumerate(zip(p_ids, t_ids)):
        if len(t) > MAX_TRAIN_TOKENS:
            raise ValueError(f"example of {len(t)} tokens exceeds {MAX_TRAIN_TOKENS}: {texts[i][:80]!r}")
        if t[:len(p)] != p:
            raise ValueError(f"prompt tokens are not a prefix of the full text's tokens: {texts[i][:80]!r}")
        ids[i, :len(t)] = t
        plen[i], tlen[i] = len(p), len(t)
    return ids, plen, tlen


def make_pool(tok, size: int, seed: int, workers: int):
    exclude = tasks.heldout_keys()
    jobs, left, k = [], size, 0
    while left > 0:
        n = min(CHUNK, left)
        jobs.append((seed * 1_000_003 + k, n))
        left -= n
        k += 1
    parts = None
    if workers > 1:
        try:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers, initializer=_worker_init, initargs=(tok, exclude)) as pool:
                parts = pool.map(_encode_chunk, jobs)
        except Exception as e:  # a broken pool must not cost the run: fall back to this process
            log(f"WARNING: worker pool failed ({type(e).__name__}: {e}); generating in-process")
            parts = None
    if parts is None:
        _worker_init(tok, exclude)
        parts = [_encode_chunk(j) for j in jobs]
    ids = np.concatenate([p[0] for p in parts])
    plen = np.concatenate([p[1] for p in parts])
    tlen = np.concatenate([p[2] for p in parts])
    return ids, plen, tlen


# ----------------------------------------------------------------------------------------------------- training

def lr_factor(step: int, warmup: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / warmup)
    return warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def train(model, ids_np, plen_np, tlen_np, args, device) -> dict:
    n = len(ids_np)
    pool = torch.from_numpy(ids_np).to(device)
    plen = torch.from_numpy(plen_np).to(device)
    tlen = torch.from_numpy(tlen_np).to(device)
    decay = [p for name, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for name, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    budget = 60.0 * args.minutes
    max_steps = args.max_steps
    warmup = min(args.warmup, max(1, max_steps // 4)) if max_steps else args.warmup
    rng = np.random.default_rng(args.seed)
    model.train()
    history, step, seen_tokens, t_start = [], 0, 0, time.time()
    loss_acc, loss_n = torch.zeros((), device=device), 0
    while True:
        elapsed = time.time() - t_start
        progress = elapsed / budget
        if max_steps:
            progress = max(progress, step / max_steps)
        if progress >= 1.0:
            break
        lr = args.lr * lr_factor(step, warmup, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        idx_np = rng.integers(0, n, size=args.batch)
        width = int(tlen_np[idx_np].max())
        width = min(MAX_TRAIN_TOKENS, (width + 7) // 8 * 8)
        idx = torch.from_numpy(idx_np).to(device)
        x = pool[idx, :width].long()
        inputs, targets = x[:, :-1], x[:, 1:]
        pos = torch.arange(1, width, device=device)[None, :]
        mask = (pos >= plen[idx][:, None]) & (pos < tlen[idx][:, None])
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(input_ids=inputs, use_cache=False).logits
        losses = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        maskf = mask.reshape(-1).float()
        loss = (losses * maskf).sum() / maskf.sum().clamp(min=1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen_tokens += int(tlen_np[idx_np].sum())
        loss_acc += loss.detach()
        loss_n += 1
        if step % args.log_every == 0 or step == 1:
            mean = float(loss_acc / loss_n)
            if not math.isfinite(mean):
                fail(f"loss is {mean} at step {step}")
            elapsed = time.time() - t_start
            history.append({"step": step, "seconds": round(elapsed, 1), "loss": round(mean, 5), "lr": lr})
            log(f"step {step:6d}  loss {mean:.4f}  lr {lr:.2e}  {step / max(elapsed, 1e-9):.1f} steps/s  "
                f"{seen_tokens / max(elapsed, 1e-9) / 1e6:.2f}M tok/s")
            loss_acc, loss_n = torch.zeros((), device=device), 0
    elapsed = time.time() - t_start
    log(f"trained {step} steps in {elapsed:.0f}s ({seen_tokens / 1e6:.1f}M tokens)")
    return {"steps": step, "seconds": round(elapsed, 1), "tokens": seen_tokens, "history": history,
            "final_loss": history[-1]["loss"] if history else None}


# ------------------------------------------------------------------------------------------------ save + check

def write_generation_config(out: str, ids: dict[str, int]) -> None:
    gen = {"bos_token_id": ids[chat_format.ENDOFTEXT], "eos_token_id": ids[chat_format.IM_END],
           "pad_token_id": ids[chat_format.ENDOFTEXT], "do_sample": False,
           "transformers_version": transformers.__version__}
    with open(os.path.join(out, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump(gen, f, indent=2)


def write_model_card(out: str, summary: dict) -> None:
    s = summary
    card = f"""# ReasoningServe default model

A {s['parameters'] / 1e6:.1f}M-parameter Qwen3-architecture decoder trained from scratch by
`tools/default_model/train.py` so that ReasoningServe has a model to serve when no model hub is reachable. It
thinks step by step inside `<think>...</think>` and then answers with the bare number.

## What it can do
- `What is A + B?` and `What is A - B?` for integers A, B in 0..9999: column arithmetic from the units digit
  with carries, or with borrows after comparing the numbers (it swaps and negates when A < B).
- `How many r's are in strawberry?`: spells the word with a running count (lowercase words, one letter).
Nothing else: other questions get confident nonsense. Questions must use exactly these phrasings.

The format it was trained to produce (its own answers to held-out questions are in eval.json):
```
<|im_start|>user
What is 4827 + 389?<|im_end|>
<|im_start|>assistant
<think>
4827 has 4 digits, 389 has 3 digits. Add column by column from the right.
units: 7+9=16, write 6, carry 1. So far: 6
tens: 2+8+1=11, write 1, carry 1. So far: 16
hundreds: 8+3+1=12, write 2, carry 1. So far: 216
thousands: 4+0+1=5, write 5, carry 0. So far: 5216
The last carry is 0, so 4827 + 389 = 5216.
</think>

5216<|im_end|>
```

## How it was made
- Architecture: Qwen3ForCausalLM, hidden {SHAPE['hidden_size']}, {SHAPE['num_hidden_layers']} layers,
  {SHAPE['num_attention_heads']} query heads / {SHAPE['num_key_value_heads']} KV heads of {SHAPE['head_dim']},
  MLP {SHAPE['intermediate_size']}, tied embeddings, RoPE theta {ROPE_THETA:g}, context {SHAPE['max_position_embeddings']}.
- Tokenizer: byte-level BPE with Qwen's pre-tokenizer (every digit is one token), {s['vocab_size']} tokens,
  merges learned from the task text; `<think>`/`</think>` are added non-special tokens, `<|im_end|>` ends a turn.
- Chat template: ChatML; the generation prompt opens `<think>\\n`; `enable_thinking=false` closes it at once.
- Data: synthetic problems from `tools/default_model/tasks.py` (held-out problems never trained on),
  {100 * SYSTEM_SHARE:.0f}% with a system prompt, {100 * NO_THINK_SHARE:.0f}% without thinking.
- Training: {s['steps']} steps of {s['batch']} sequences ({s['tokens'] / 1e6:.0f}M tokens, {s['seconds']:.0f} s) on
  {s['device']}, AdamW lr {s['lr']:g}, warmup + cosine, bf16 autocast, loss on the assistant turn only;
  final loss {s['final_loss']}; {s['quick_check']} held-out answers right in a quick check after saving. torch {s['torch']}, transformers {s['transformers']}, seed {s['seed']}.
- Weights stored in bfloat16.

Accuracy on the held-out set is measured by `tools/default_model/evaluate.py` (and through ReasoningServe); see
the repository README.
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


def check_saved(out: str, model, tok, device) -> dict:
    path = os.path.join(out, "model.safetensors")
    if not os.path.exists(path):
        fail(f"{path} was not written (files: {sorted(os.listdir(out))})")
    size = os.path.getsize(path)
    log(f"model.safetensors: {size / 1e6:.2f} MB")
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").to(device)
    reloaded.eval()
    probe = tok.encode(chat_format.render_prompt("What is 12 + 34?"), add_special_tokens=False)
    with torch.no_grad():
        a = model.float()(input_ids=torch.tensor([probe], device=device), use_cache=False).logits
        b = reloaded(input_ids=torch.tensor([probe], device=device), use_cache=False).logits
    diff = float((a - b).abs().max())
    log(f"reloaded weights: max |logit difference| {diff:.2e}")
    if diff > 1e-2:
        fail("the saved model does not reproduce the trained one (tied embeddings lost?)")
    exs = tasks.heldout_set(16, ("add", "sub"))
    result = evaluate.run_questions(reloaded, tok, exs, device, batch_size=32)
    for r in result["records"][:4]:
        log(f"sample: {r['question']} -> {r['content']!r} (expected {r['expected']}, {'ok' if r['correct'] else 'WRONG'})")
    log(f"quick check: {result['correct']}/{len(exs)} held-out answers correct (fp32)")
    if size > MAX_MODEL_BYTES:
        fail(f"model.safetensors is {size} bytes, over the {MAX_MODEL_BYTES} limit")
    return {"bytes": size, "reload_max_logit_diff": diff, "quick_check": f"{result['correct']}/{len(exs)}"}


# ---------------------------------------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=5.0, help="training time budget (the loop stops there)")
    ap.add_argument("--smoke", action="store_true", help="~20 steps on a small pool: checks the pipeline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--pool", type=int, default=0, help="training examples to pre-generate (default by budget)")
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--log-every", type=int, default=200)
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to dry-run the pipeline")
    args = ap.parse_args()
    args.max_steps = 20 if args.smoke else 0
    if args.smoke:
        args.log_every = 5
    if not args.pool:
        args.pool = 4000 if args.smoke else int(max(100_000, min(1_500_000, 160_000 * args.minutes)))
    if args.device == "cuda" and not torch.cuda.is_available():
        fail("no CUDA device")
    device = torch.device(args.device)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, args {vars(args)}")

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    tok_json = build_tokenizer.build(out, max_length=SHAPE["max_position_embeddings"])
    ref = build_tokenizer.ReferenceTokenizer(tok_json)
    ids = dict(ref.added)
    config = make_config(build_tokenizer.vocab_size(tok_json), ids)
    config.save_pretrained(out)  # AutoTokenizer reads config.json to pick the tokenizer class
    tok = evaluate.load_tokenizer(out)
    log(f"tokenizer class {type(tok).__name__}")
    check_tokenizer(tok, tok_json)

    ids_np, plen_np, tlen_np = make_pool(tok, args.pool, args.seed, args.workers)
    answer_tokens = int((tlen_np - plen_np).sum())
    log(f"pool: {len(ids_np)} examples, mean length {tlen_np.mean():.0f} tokens (max {tlen_np.max()}), "
        f"{answer_tokens / len(ids_np):.0f} trained tokens each")

    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"  # first CUDA call: workers gone
    log(f"device: {device_name}")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").to(device)
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e6:.2f}M parameters (bf16 ~{2 * params / 1e6:.1f} MB)")
    if 2 * params > MAX_MODEL_BYTES:
        fail(f"{params} parameters cannot fit {MAX_MODEL_BYTES} bytes in bf16")

    stats = train(model, ids_np, plen_np, tlen_np, args, device)

    model.eval()
    model = model.to(torch.bfloat16)
    model.config.use_cache = True
    model.save_pretrained(out, safe_serialization=True)
    write_generation_config(out, ids)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    saved = check_saved(out, model, tok, device)
    summary = {**stats, **saved, "parameters": params, "vocab_size": len(tok), "batch": args.batch, "lr": args.lr,
               "seed": args.seed, "pool": len(ids_np), "device": device_name,
               "torch": torch.__version__, "transformers": transformers.__version__, "shape": SHAPE,
               "rope_theta": ROPE_THETA, "smoke": args.smoke}
    write_model_card(out, summary)
    with open(os.path.join(out, "training.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    log(f"saved {out}: {sorted(os.listdir(out))}")


if __name__ == "__main__":
    main()
