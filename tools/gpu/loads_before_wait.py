"""Which global loads a kernel issues before its first programmatic-dependent-launch wait, from its machine code.

Reads `cuobjdump -sass` output (files or standard input) and prints, for each function with a `griddepcontrol.wait`
(ACQBULK in SASS), the global loads (LDG, LDGSTS) that come before the first one in program order, and the loads right
after it. Under PDL the kernel ahead may still be writing when a kernel starts, so only data it does not write (weights,
inputs copied before the step) may be loaded before the wait. The compiler decides the final order: ptxas 13 put every
one of gemv_wide's early weight loads after a plain wait, and moved read-only (__ldg) loads of the previous kernel's
output above a predicated one (docs/benchmarks/cuda-h200.md, run 10). tools/gpu/all.sh run sass runs this over every
kernel file.
    cuobjdump -sass gemv.cubin | python3 tools/gpu/loads_before_wait.py
"""

import re
import sys

FUNCTION = re.compile(r"Function : (\S+)")
INSTRUCTION = re.compile(r"/\*[0-9a-f]{4,}\*/\s+(.*?)\s*;")
LOAD = re.compile(r"^(@!?P\d+\s+)?(LDG|LDGSTS|UBLKPF|CCTL)\b")  # loads, and L2 prefetches (gemv.cu's L2Prefetch)


def functions(lines):
    name, body = None, []
    for line in lines:
        m = FUNCTION.search(line)
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
            continue
        m = INSTRUCTION.search(line)
        if m and name:
            body.append(m.group(1))
    if name:
        yield name, body


def main():
    paths = sys.argv[1:]
    lines = [line for path in paths for line in open(path, encoding="utf-8", errors="replace")] if paths else sys.stdin.readlines()
    for name, body in functions(lines):
        waits = [i for i, text in enumerate(body) if text.startswith("ACQBULK") or " ACQBULK" in text]
        if not waits:
            continue
        first = waits[0]
        before = [text for text in body[:first] if LOAD.match(text)]
        after = [text for text in body[first + 1:] if LOAD.match(text)][:4]
        print(f"{name}: {len(before)} load(s) before the first wait (instruction {first}), {len(waits)} wait(s) in all")
        for text in before:
            print(f"    before: {text}")
        for text in after:
            print(f"    after:  {text}")


if __name__ == "__main__":
    main()
