"""Measures the default model's accuracy through a running ReasoningServe (or any OpenAI-compatible) server.

Sends each held-out question of docs/default_model/pytorch_eval.json to /v1/chat/completions (greedy), checks the answer
in `content`, and compares every response with what PyTorch generated for the same weights. Standard library only.

    python3 tools/default_model/eval_server.py --base-url http://127.0.0.1:8000 [--n 500] [--concurrency 16] [--out FILE]
"""

import argparse
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tasks import check_answer  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ask(base_url, model, question):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}],
                       "temperature": 0, "max_tokens": 400}).encode()
    request = urllib.request.Request(base_url.rstrip("/") + "/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        message = json.load(response)["choices"][0]["message"]
    return message.get("reasoning_content"), message.get("content") or ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", default=None, help="served model name; default: the first of /v1/models")
    ap.add_argument("--n", type=int, default=500, help="questions per task")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    with open(os.path.join(ROOT, "docs", "default_model", "pytorch_eval.json")) as f:
        records = json.load(f)["records"]
    taken, questions = {}, []
    for r in records:
        if taken.get(r["task"], 0) < args.n:
            taken[r["task"]] = taken.get(r["task"], 0) + 1
            questions.append(r)
    model = args.model
    if model is None:
        with urllib.request.urlopen(args.base_url.rstrip("/") + "/v1/models", timeout=30) as response:
            model = json.load(response)["data"][0]["id"]

    start = time.time()
    with ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(lambda r: ask(args.base_url, model, r["question"]), questions))
    seconds = time.time() - start

    per_task = {}
    for r, (reasoning, content) in zip(questions, answers):
        t = per_task.setdefault(r["task"], {"n": 0, "correct": 0, "pytorch_correct": 0, "same_content_as_pytorch": 0,
                                             "has_reasoning": 0})
        t["n"] += 1
        t["correct"] += check_answer(r["expected"], content)
        t["pytorch_correct"] += bool(r["fp32"]["correct"])
        t["same_content_as_pytorch"] += content.strip() == r["fp32"]["content"].strip()
        t["has_reasoning"] += bool(reasoning)
    for t in per_task.values():
        t["accuracy"] = t["correct"] / t["n"]
        t["pytorch_accuracy"] = t["pytorch_correct"] / t["n"]
    result = {"base_url": args.base_url, "model": model, "seconds": round(seconds, 1), "tasks": per_task}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
