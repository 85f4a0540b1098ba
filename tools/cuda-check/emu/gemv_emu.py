"""gemv.cu's indexing, emulated thread by thread in plain Python against a direct matrix product.

gemv.cu stages each block's input in shared memory one k-slab at a time (SLAB_CHUNKS 16-byte chunks for all tokens),
then every warp streams ROWS weight rows over the slab, UNROLL chunks per row and lane at a time, and reduces across
its lanes. This walks the same loops (blocks, warps, lanes, slabs, unrolled steps, the guards on the last slab and on
rows past n) with small slabs so that every path is taken, and checks that each output is the full dot product, every
(row, chunk) pair used exactly once and every shared-memory read inside what the slab staged. Exact integer values,
so the order of the sums does not matter. No GPU and no numpy needed:  python3 tools/cuda-check/emu/gemv_emu.py
"""
import random

WARPS, LANES, CHUNK = 8, 32, 8  # 256 threads; a chunk is 8 bf16 values (16 bytes)


def gemv(x, w, tokens, n, k, rows, unroll, slab_chunks):
    chunks = k // CHUNK
    slab = slab_chunks // max(tokens, 1)
    blocks = (n + rows * WARPS - 1) // (rows * WARPS)
    y = [[None] * n for _ in range(tokens)]
    used = {}
    for block in range(blocks):
        acc = {}  # (warp, lane, r, t) -> partial sum
        for c0 in range(0, chunks, slab):
            count = min(slab, chunks - c0)
            xs = {}
            for thread in range(WARPS * LANES):  # staging: i = thread, thread + 256, ...
                for i in range(thread, tokens * count, WARPS * LANES):
                    t, j = divmod(i, count)
                    xs[i] = x[t][(c0 + j) * CHUNK:(c0 + j + 1) * CHUNK]
            for warp in range(WARPS):
                row0 = (block * WARPS + warp) * rows
                for lane in range(LANES):
                    for j in range(lane, count, LANES * unroll):
                        for u in range(unroll):
                            if j + LANES * u >= count:
                                break
                            c = c0 + j + LANES * u
                            for r in range(rows):
                                row = min(row0 + r, n - 1)
                                wv = w[row][c * CHUNK:(c + 1) * CHUNK]
                                if row0 + r < n:
                                    used[(row, c)] = used.get((row, c), 0) + 1
                                for t in range(tokens):
                                    index = t * count + j + LANES * u
                                    assert index in xs, f"shared read {index} outside the staged slab"
                                    key = (warp, lane, r, t)
                                    acc[key] = acc.get(key, 0) + sum(a * b for a, b in zip(wv, xs[index]))
        for warp in range(WARPS):
            row0 = (block * WARPS + warp) * rows
            for r in range(rows):
                for t in range(tokens):
                    if row0 + r < n:
                        assert y[t][row0 + r] is None, "row written twice"
                        y[t][row0 + r] = sum(acc.get((warp, lane, r, t), 0) for lane in range(LANES))
    return y, used


def main():
    rng = random.Random(5)
    cases = 0
    for tokens, n, k, rows, unroll, slab_chunks in [
        (1, 37, 8 * 300, 2, 8, 64),    # several slabs, a short last one, rows past n
        (3, 16, 8 * 100, 2, 8, 64),    # slab = 21 chunks per token: slab length not a multiple of 32
        (8, 20, 8 * 70, 1, 16, 2048),  # one slab, fewer chunks than one unrolled step
        (2, 9, 8 * 513, 4, 4, 256),    # rows = 4, unroll 4
        (5, 64, 8 * 33, 2, 8, 2048),   # the backend's build at 5 tokens
    ]:
        x = [[rng.randint(-3, 3) for _ in range(k)] for _ in range(tokens)]
        w = [[rng.randint(-3, 3) for _ in range(k)] for _ in range(n)]
        y, used = gemv(x, w, tokens, n, k, rows, unroll, slab_chunks)
        for t in range(tokens):
            for o in range(n):
                expected = sum(a * b for a, b in zip(x[t], w[o]))
                assert y[t][o] == expected, (tokens, n, k, rows, unroll, slab_chunks, t, o)
        assert all(used.get((o, c)) == 1 for o in range(n) for c in range(k // CHUNK)), "a weight chunk was used twice or not at all"
        cases += 1
    print(f"gemv_emu: {cases} of {cases} shapes equal to the direct product; every weight chunk read once")


if __name__ == "__main__":
    main()
