"""Measures the default model on the held-out problems with transformers, greedy, as the server will run it.

    python3 evaluate.py --model DIR --out eval.json [--n 500] [--dtypes fp32,bf16]

For each dtype (fp32 = compute in float32 from the stored bf16 weights, as ReasoningServe's CPU backend does;
bf16 = as its CUDA backend does): render each question with the chat template (add_generation_prompt), greedy
decode in left-padded batches, split the completion at </think>, check the answer. The JSON holds the accuracy
per task and per dtype and, for every question, the prompt token ids and the generated token ids, so the server's
tokens can be compared with these one for one.

Decoding recomputes the whole sequence each step (no KV cache) with explicit position ids, so padding cannot shift
positions: a padded row gets the same tokens as the same prompt alone (checked on the first --consistency prompts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chat_format  # noqa: E402
import tasks  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@torch.no_grad()
def greedy_generate(model, prompts: list[list[int]], max_new_tokens: int, eos_id: int, pad_id: int,
                    batch_size: int, device) -> list[list[int]]:
    """Greedy continuations (ending with eos_id when the model produced it) of each prompt."""
    results: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, p in enumerate(chunk):
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        ids, mask = ids.to(device), mask.to(device)
        done = torch.zeros(len(chunk), dtype=torch.bool, device=device)
        steps = []
        for _ in range(max_new_tokens):
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits[:, -1, :]
            nxt = logits.float().argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            steps.append(nxt)
            done = done | (nxt == eos_id)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(nxt)[:, None]], dim=1)
            if bool(done.all()):
                break
        gen = torch.stack(steps, dim=1).cpu().tolist()
        for row in gen:
            out = []
            for t in row:
                out.append(t)
                if t == eos_id:
                    break
            results.append(out)
    return results


def load_tokenizer(path: str):
    """AutoTokenizer, or the generic fast tokenizer class if AutoTokenizer cannot place this folder."""
    import transformers

    try:
        return transformers.AutoTokenizer.from_pretrained(path)
    except Exception as e:  # the folder is plain tokenizer.json + tokenizer_config.json: the generic class reads it
        print(f"WARNING: AutoTokenizer failed ({type(e).__name__}: {e}); using PreTrainedTokenizerFast", flush=True)
        return transformers.PreTrainedTokenizerFast.from_pretrained(path)


def prompt_ids(tok, question: str) -> list[int]:
    text = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                   tokenize=False)
    return tok.encode(text, add_special_tokens=False)


def max_new_tokens_for(tok, exs) -> int:
    longest = max(len(tok.encode(chat_format.completion(e.reasoning, e.answer), add_special_tokens=False))
                  for e in exs)
    return longest + 24


def run_questions(model, tok, exs, device, batch_size: int = 256, max_new_tokens: int | None = None) -> dict:
    prompts = [prompt_ids(tok, e.question) for e in exs]
    limit = max_new_tokens or max_new_tokens_for(tok, exs)
    gens = greedy_generate(model, prompts, limit, tok.eos_token_id, tok.pad_token_id, batch_size, device)
    records, correct = [], 0
    for e, p, g in zip(exs, prompts, gens):
        text = tok.decode(g, skip_special_tokens=False)
        reasoning, content = chat_format.split_reasoning(text)
        ok = reasoning is not None and tasks.check_answer(e.answer, content)
        correct += ok
        records.append({"task": e.task, "question": e.question, "expected": e.answer, "content": content,
                        "correct": ok, "reasoning_exact": reasoning == e.reasoning,
                        "finished": bool(g) and g[-1] == tok.eos_token_id, "prompt_ids": p, "generated_ids": g})
    return {"records": records, "correct": correct}


def summarize(records: list[dict]) -> dict:
    out = {}
    for task in sorted({r["task"] for r in records}):
        rs = [r for r in records if r["task"] == task]
        out[task] = {"n": len(rs), "accuracy": sum(r["correct"] for r in rs) / len(rs),
                     "reasoning_exact": sum(r["reasoning_exact"] for r in rs) / len(rs),
                     "finished": sum(r["finished"] for r in rs) / len(rs)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=500, help="held-out questions per task (at most 1000)")
    ap.add_argument("--tasks", default=",".join(tasks.TASKS))
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--consistency", type=int, default=12, help="prompts re-decoded alone to check batching")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.time()
    tok = load_tokenizer(args.model)
    exs = tasks.heldout_set(args.n, tuple(args.tasks.split(",")))
    template_ok = sum(tok.apply_chat_template([{"role": "user", "content": e.question}], add_generation_prompt=True,
                                              tokenize=False) == chat_format.render_prompt(e.question) for e in exs)
    limit = max_new_tokens_for(tok, exs)
    report = {"model": os.path.abspath(args.model), "n_per_task": args.n, "max_new_tokens": limit,
              "chat_template_matches_training": f"{template_ok}/{len(exs)}", "device": str(device),
              "torch": torch.__version__, "accuracy": {}, "records": None}
    records = None
    for name in args.dtypes.split(","):
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as on the CPU backend
        torch.backends.cudnn.allow_tf32 = False
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=DTYPES[name], attn_implementation="eager")
        model = model.to(device).eval()
        t = time.time()
        res = run_questions(model, tok, exs, device, args.batch, limit)
        summary = summarize(res["records"])
        report["accuracy"][name] = summary
        print(f"{name}: " + ", ".join(f"{k} {v['accuracy']:.3f} (reasoning exact {v['reasoning_exact']:.3f})"
                                      for k, v in summary.items()) + f"  [{time.time() - t:.0f}s]", flush=True)
        if records is None:
            records = [{k: r[k] for k in ("task", "question", "expected", "prompt_ids")} for r in res["records"]]
        for rec, r in zip(records, res["records"]):
            rec[name] = {k: r[k] for k in ("generated_ids", "content", "correct", "reasoning_exact", "finished")}
        if args.consistency and name == args.dtypes.split(",")[0]:
            k = min(args.consistency, len(exs))
            alone = [greedy_generate(model, [rec["prompt_ids"]], limit, tok.eos_token_id, tok.pad_token_id, 1,
                                     device)[0] for rec in records[:k]]
            same = sum(a == rec[name]["generated_ids"] for a, rec in zip(alone, records[:k]))
            report[f"batched_equals_alone_{name}"] = f"{same}/{k}"
            print(f"{name}: batched decoding equals decoding alone for {same}/{k} prompts", flush=True)
        for r in res["records"][:2] + [r for r in res["records"] if not r["correct"]][:3]:
            print(f"  {r['question']} -> {r['content']!r} (expected {r['expected']})", flush=True)
        report["records"] = records
        with open(args.out, "w", encoding="utf-8") as f:  # written after each dtype: a cut-off run keeps results
            json.dump(report, f)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if len(args.dtypes.split(",")) > 1:
        a, b = args.dtypes.split(",")[:2]
        agree = sum(r[a]["generated_ids"] == r[b]["generated_ids"] for r in records)
        report[f"{a}_equals_{b}_tokens"] = f"{agree}/{len(records)}"
        print(f"{a} and {b} generate identical tokens for {agree}/{len(records)} questions", flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f)
    print(f"wrote {args.out} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
