"""gemv.cu's indexing, emulated thread by thread in plain Python against a direct matrix product.

gemv.cu stages each block's input in shared memory one k-slab at a time (SLAB_CHUNKS 16-byte chunks for all tokens),
then every warp streams ROWS weight rows over the slab, UNROLL chunks per row and lane at a time, and reduces across
its lanes. This walks the same loops (blocks, warps, lanes, slabs, unrolled steps, the guards on the last slab and on
rows past n) with small slabs so that every path is taken, and checks that each output is the full dot product, every
(row, chunk) pair used exactly once and every shared-memory read inside what the slab staged. Exact integer values,
so the order of the sums does not matter. The wide layout (gemv_wide*: a block's threads across a row, x in
registers, rows shared evenly over the grid Gemm.WideGrid picks) is walked the same way. No GPU and no numpy needed:
python3 tools/cuda-check/emu/gemv_emu.py
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


WIDE_MAX_ROWS, WIDE_MAX_THREADS = 32, 512


def wide_threads(k, cpt):
    """Gemm.WideThreads: enough warps that each thread takes at most cpt chunks of a row."""
    per_thread = CHUNK * cpt
    return (k + LANES * per_thread - 1) // (LANES * per_thread) * LANES


def wide_blocks(n, resident):
    """Gemm.WideGrid: one wave of blocks, or more where a block would take over WIDE_MAX_ROWS rows."""
    return min(n, max(resident, (n + WIDE_MAX_ROWS - 1) // WIDE_MAX_ROWS))


def gemv_wide(x, w, n, k, cpt, wide_rows, resident):
    """gemv.cu's wide layout for one token: block b takes rows [b n / grid, (b + 1) n / grid); thread i holds chunks
    i, i + blockDim, ... (at most cpt) of x; rows go wide_rows at a time (the last batch reads row rows - 1 again and
    writes nothing for it); warp sums meet in partial[row][warp] and warp 0's lanes add them in warp order."""
    chunks, threads = k // CHUNK, wide_threads(k, cpt)
    assert threads <= WIDE_MAX_THREADS and chunks <= threads * cpt
    grid = wide_blocks(n, resident)
    y, used = [None] * n, {}
    for block in range(grid):
        row0, row_end = block * n // grid, (block + 1) * n // grid
        rows = row_end - row0
        assert 1 <= rows <= WIDE_MAX_ROWS, f"block {block} takes {rows} rows"
        partial = {}
        for r in range(0, rows, wide_rows):
            for u in range(wide_rows):
                row = min(row0 + r + u, row0 + rows - 1)
                for warp in range(threads // LANES):
                    total = 0
                    for lane in range(LANES):
                        thread = warp * LANES + lane
                        for i in range(cpt):
                            c = thread + i * threads
                            if c < chunks:
                                if r + u < rows:
                                    used[(row, c)] = used.get((row, c), 0) + 1
                                total += sum(a * b for a, b in zip(w[row][c * CHUNK:(c + 1) * CHUNK], x[c * CHUNK:(c + 1) * CHUNK]))
                    if r + u < rows:
                        assert (r + u, warp) not in partial, "partial written twice"
                        partial[(r + u, warp)] = total
        for lane in range(min(rows, LANES)):
            assert y[row0 + lane] is None, "row written twice"
            y[row0 + lane] = sum(partial[(lane, warp)] for warp in range(threads // LANES))
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
    for n, k, cpt, wide_rows, resident in [
        (37, 8 * 300, 5, 2, 4),    # 60 threads' worth of chunks -> 64 threads, uneven row shares, a half last batch
        (100, 8 * 96, 5, 2, 3),    # more rows than 3 blocks x 32: the grid grows to 4
        (7, 8 * 40, 8, 1, 16),     # more resident blocks than rows: one row each
        (50, 8 * 17, 4, 3, 5),     # chunks not a multiple of the threads; 10 rows per block in batches of 3
        (33, 8 * 1000, 5, 2, 1),   # 224 threads; one resident block, but 33 rows need two
    ]:
        x = [rng.randint(-3, 3) for _ in range(k)]
        w = [[rng.randint(-3, 3) for _ in range(k)] for _ in range(n)]
        y, used = gemv_wide(x, w, n, k, cpt, wide_rows, resident)
        for o in range(n):
            assert y[o] == sum(a * b for a, b in zip(x, w[o])), (n, k, cpt, wide_rows, resident, o)
        assert all(used.get((o, c)) == 1 for o in range(n) for c in range(k // CHUNK)), "a wide weight chunk was used twice or not at all"
        cases += 1
    print(f"gemv_emu: {cases} of {cases} shapes (row per warp and wide) equal to the direct product; every weight chunk read once")


if __name__ == "__main__":
    main()
