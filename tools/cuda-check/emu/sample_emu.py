"""sample.cu's keep rules, emulated in plain Python (fp32 via struct) against the engine sampler's rules with a sort.

sample.cu finds the top-k cut by a radix select (4 passes of 8-bit digits over the float bits) and the top-p cut by
building a float's bits from the top bit down (no sort), over the entries it gathered into shared memory (top-k's
survivors, or the CANDIDATES largest when they hold the nucleus) or else over the whole row. This checks both, on random
rows, against the sampler's definition: keep p >= the k-th largest (ties kept), then the smallest prefix of the
survivors, largest first, whose mass reaches top_p of theirs; and the gathered path against the whole-row one (the same
set). Only the kept SET is compared (the draw is an exponential race over it). One difference is by design: tokens tied
with the nucleus' last one are all kept (the sampler keeps whichever its sort put first), so the sets may differ only by
such ties. CANDIDATES is small here so that rows overflow it.
No GPU and no numpy needed:  python3 tools/cuda-check/emu/sample_emu.py
"""
import math
import random
import struct


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def bits_to_float(b):
    return struct.unpack("f", struct.pack("I", b))[0]


def probs(row, t, min_p):
    inv_t = f32(1.0 / t)
    scaled_max = f32(max(row) * inv_t)
    out = []
    for x in row:
        p = f32(math.exp(f32(f32(x * inv_t) - scaled_max)))
        out.append(0.0 if p < min_p else p)
    return out


def fsum(values):
    s = 0.0
    for v in values:
        s = f32(s + v)
    return s


CANDIDATES = 16


def f32_bits(x):
    return struct.unpack("I", struct.pack("f", x))[0]


def kth_largest_bits(p, k):
    """sample.cu's radix select: per 8-bit digit, a histogram of the entries matching the digits so far, scanned from the top."""
    prefix = mask = 0
    for shift in (24, 16, 8, 0):
        histogram = [0] * 256
        for q in p:
            bits = f32_bits(q)
            if bits & mask == prefix:
                histogram[(bits >> shift) & 255] += 1
        above = 0
        for digit in range(255, -1, -1):
            if above + histogram[digit] >= k:
                break
            above += histogram[digit]
        prefix |= digit << shift
        mask |= 255 << shift
        k -= above
    return prefix


def nucleus_bits(values, floor, mass):
    nucleus = 0
    for bit in range(30, -1, -1):
        candidate = nucleus | (1 << bit)
        tv = max(bits_to_float(candidate), floor)
        kept_mass = fsum(q for q in values if q >= tv)
        if kept_mass >= mass and kept_mass > 0:
            nucleus = candidate
    return nucleus


def gathered_kept(row, t, top_p, top_k, min_p):
    """sample.cu as it runs: radix top-k, gather, nucleus and race over the candidates when they hold it."""
    p = probs(row, t, min_p)
    n = len(p)
    threshold = kth_largest_bits(p, top_k) if 0 < top_k < n else 0
    floor = bits_to_float(threshold)
    gathered = False
    by_top_k = 0 < top_k <= CANDIDATES
    if by_top_k or top_p < 1 or n <= CANDIDATES:
        floor_bits = threshold
        if not by_top_k and n > CANDIDATES:
            floor_bits = max(threshold, kth_largest_bits(p, CANDIDATES))
        candidate_floor = bits_to_float(floor_bits)
        candidates = [(i, q) for i, q in enumerate(p) if q > 0 and q >= candidate_floor]
        row_mass = fsum(q for q in p if q >= floor)
        if len(candidates) <= CANDIDATES:
            gathered = True
            total = 0.0 if floor_bits == threshold else row_mass
    if top_p < 1:
        if gathered:
            candidate_mass = fsum(q for _, q in candidates if q >= floor)
            if total == 0.0:
                total = candidate_mass
            if candidate_mass < f32(top_p * total):
                gathered = False
        if not gathered:
            total = fsum(q for q in p if q >= floor)
        mass = f32(top_p * total)
        values = [q for _, q in candidates] if gathered else p
        threshold = max(nucleus_bits(values, floor, mass), threshold)
    cut = bits_to_float(threshold)
    pool = candidates if gathered else list(enumerate(p))
    return {i for i, q in pool if q > 0 and q >= cut}, gathered


def kernel_kept(row, t, top_p, top_k, min_p):
    p = probs(row, t, min_p)
    n = len(p)
    threshold = 0
    if 0 < top_k < n:
        for bit in range(30, -1, -1):
            candidate = threshold | (1 << bit)
            tv = bits_to_float(candidate)
            if sum(1 for q in p if q >= tv) >= top_k:
                threshold = candidate
    if top_p < 1:
        floor = bits_to_float(threshold)
        total = fsum(q for q in p if q >= floor)
        mass = f32(top_p * total)
        threshold = max(nucleus_bits(p, floor, mass), threshold)
    cut = bits_to_float(threshold)
    return {i for i, q in enumerate(p) if q > 0 and q >= cut}


def sampler_kept(row, t, top_p, top_k, min_p):
    p = probs(row, t, min_p)
    n = len(p)
    if 0 < top_k < n:
        kth = sorted(p, reverse=True)[top_k - 1]
        p = [q if q >= kth else 0.0 for q in p]
    kept = {i for i, q in enumerate(p) if q > 0}
    if top_p < 1:
        mass = top_p * sum(p)
        order = sorted(kept, key=lambda i: -p[i])
        cumulative, kept = 0.0, set()
        for i in order:
            if kept and cumulative >= mass:  # the most likely token always stays
                break
            cumulative += p[i]
            kept.add(i)
    return kept


def main():
    rng = random.Random(5)
    cases = mismatches = ties = gathered = 0
    for trial in range(400):
        n = rng.choice([50, 300, 1000])
        spread = rng.choice([1.0, 4.0, 12.0])
        row = [f32(rng.gauss(0, spread)) for _ in range(n)]
        if trial % 7 == 0:
            row[3] = row[9] = max(row)  # tie at the top
        t = rng.choice([0.3, 0.6, 1.0, 1.5])
        top_p = rng.choice([1.0, 0.95, 0.8, 0.5, 0.1, 0.0])  # 0.0: a request's 1e-50 as a float
        top_k = rng.choice([0, 1, 5, 20, 200])
        min_p = rng.choice([0.0, 0.0, 0.05, 0.2])
        a, b = kernel_kept(row, t, top_p, top_k, min_p), sampler_kept(row, t, top_p, top_k, min_p)
        g, was_gathered = gathered_kept(row, t, top_p, top_k, min_p)
        gathered += was_gathered
        if g != a:
            mismatches += 1
            print(f"case {trial}: the gathered path keeps {len(g)}, the whole-row search {len(a)}")
        cases += 1
        p = probs(row, t, min_p)
        smallest = min(p[i] for i in b)
        if a != b and b <= a and all(p[i] == smallest for i in a - b):
            ties += 1
            continue
        if a != b:
            mismatches += 1
            print(f"case {trial}: n={n} T={t} top_p={top_p} top_k={top_k} min_p={min_p}: kernel keeps {len(a)}, sampler {len(b)}; "
                  f"only kernel {sorted(a - b)[:5]}, only sampler {sorted(b - a)[:5]}")
    print(f"{cases - mismatches}/{cases} random rows: the kernel's kept set equals the sampler's "
          f"({ties} of them up to tokens tied with the last one kept), and its gathered path ({gathered} rows) the whole-row search's")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
