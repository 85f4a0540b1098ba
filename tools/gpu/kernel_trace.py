"""Where a one-token decode step's GPU time goes, from tools/gpu/kernel_trace.cpp's CUPTI trace (CSV).

The trace is split into segments at gaps of more than 1 ms (cuda-check's trace-steps runs one model per segment), each
segment into steps at its argmax kernels (a decode step ends with one), and only decode steps are kept (no cuBLAS or
prefill kernel). A segment's steps come in two groups: driven by the host (pack the inputs, replay the graph, wait for
the ids) and replayed back to back without the host (the last ones; DecodeBench.TimeDecode). For each group: the step
period (argmax end to argmax end). For the median back-to-back step: each kernel name's share of the span, counted as
how far it moved the step's frontier (kernel i ends at e_i in end order: e_i - e_(i-1); the shares add up to the span),
with its mean duration and how long before the previous kernel's end it started (PDL lets it start early).
    python3 tools/gpu/kernel_trace.py /tmp/trace.csv
"""

import csv
import statistics
import sys
from collections import defaultdict


def rows(path):
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            yield {"what": r["what"], "name": r["name"], "start": int(r["start_ns"]), "end": int(r["end_ns"]), "grid": int(r["grid_or_bytes"])}


def segments(records, gap_ns=1_000_000):
    current, last_end = [], None
    for r in records:
        if last_end is not None and r["start"] - last_end > gap_ns:
            yield current
            current = []
        current.append(r)
        last_end = r["end"] if last_end is None else max(last_end, r["end"])
    if current:
        yield current


def steps(segment):
    current = []
    for r in segment:
        current.append(r)
        if r["what"] == "kernel" and r["name"] == "argmax":
            yield current
            current = []


def is_decode(step):
    kernels = [r for r in step if r["what"] == "kernel"]
    return len(kernels) > 20 and all(r["name"] in KNOWN for r in kernels)


# Replays queued back to back start their copy in this soon after the argmax before them (no host in between).
BACK_TO_BACK_US = 25

# The kernels of a decode step (a prefill step also runs cuBLAS and prefill_attention, which are not here).
KNOWN = {
    "embedding", "add_rmsnorm", "rmsnorm", "gemv_wide_qkv", "gemv_wide", "gemv_wide_gate_up", "gemv_wide_silu",
    "gemv", "gemv_silu", "gemv_rmsnorm", "qkv_finish", "decode_attention", "decode_attention_early", "decode_attention_deep",
    "decode_attention_deep_early", "gqa_attention",
    "attention_combine", "silu_mul", "bias_add", "argmax",
}


def own(step):
    """The step's records less the previous step's copy of its ids to the host (kind2, device to host), which the split at
    argmax puts at the start of the next step."""
    return [r for r in step if not (r["what"] == "memcpy" and r["name"] == "kind2")]


def shares(step):
    kernels = sorted((r for r in step if r["what"] == "kernel"), key=lambda r: r["end"])
    first = min(r["start"] for r in own(step))
    frontier = first
    by_name = defaultdict(lambda: {"count": 0, "moved": 0, "duration": 0, "early": 0})
    for k in kernels:
        entry = by_name[k["name"]]
        entry["count"] += 1
        entry["moved"] += max(0, k["end"] - frontier)
        entry["duration"] += k["end"] - k["start"]
        entry["early"] += max(0, frontier - k["start"])
        frontier = max(frontier, k["end"])
    copies = [r for r in step if r["what"] == "memcpy"]
    return first, frontier, by_name, copies


def report(segment, index):
    decode = [s for s in steps(segment) if is_decode(s)]
    if len(decode) < 4:
        return
    ends = [max(r["end"] for r in s if r["name"] == "argmax") for s in decode]
    periods = [(b - a) / 1e3 for a, b in zip(ends, ends[1:])]
    # back to back: the period is the span plus a launch gap; host-driven steps wait for the host in between
    gaps = [(min(r["start"] for r in own(s)) - e) / 1e3 for e, s in zip(ends, decode[1:])]
    back = [i + 1 for i, g in enumerate(gaps) if g < BACK_TO_BACK_US]
    host = [i + 1 for i, g in enumerate(gaps) if g >= BACK_TO_BACK_US]
    kernels = len([r for r in decode[-1] if r["what"] == "kernel"])
    print(f"segment {index}: {len(decode)} decode steps of {kernels} kernels")
    for label, group in (("host-driven", host), ("back to back", back)):
        if group:
            p = [periods[i - 1] for i in group]
            g = [gaps[i - 1] for i in group]
            print(f"  {label:12}: {len(group)} steps, period median {statistics.median(p):.1f} us, from the last argmax to the next step's copy in median {statistics.median(g):.1f} us")
    if not back:
        return
    by_span = sorted((shares(decode[i]) for i in back), key=lambda s: s[1] - s[0])
    first, last, by_name, copies = by_span[len(by_span) // 2]
    span = (last - first) / 1e3
    print(f"  median back-to-back step: span {span:.1f} us (first record to the argmax's end)")
    for c in copies:
        print(f"    memcpy {c['name']} {c['grid']} bytes: starts at {(c['start'] - first) / 1e3:.1f} us, {(c['end'] - c['start']) / 1e3:.1f} us")
    print(f"    {'kernel':24} {'count':>5} {'share us':>9} {'share %':>8} {'mean us':>8} {'started early us':>17}")
    for name, e in sorted(by_name.items(), key=lambda kv: -kv[1]["moved"]):
        n = e["count"]
        print(f"    {name:24} {n:5d} {e['moved'] / 1e3:9.1f} {100 * e['moved'] / 1e3 / span:7.1f}% {e['duration'] / n / 1e3:8.2f} {e['early'] / n / 1e3:17.2f}")


def main():
    records = sorted(rows(sys.argv[1]), key=lambda r: r["start"])
    for i, segment in enumerate(segments(records)):
        report(segment, i)


if __name__ == "__main__":
    main()
