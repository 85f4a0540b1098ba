# Lane-level emulation of Kernels/decode_attention.cu (plus attention_combine.cu for the splits), with ldmatrix and
# mma.sync m16n8k16 per the PTX ISA fragment definitions and the kernel's own index formulas, against a plain softmax
# attention in float64. No GPU needed: python3 tools/cuda-check/emu/decode_attention_emu.py
#
# What it checks besides the values:
#   - cp.async ring: every 16-byte chunk an ldmatrix reads must carry the tag of the load the kernel means to read
#     (warp, load number), under two timings of the copies: "eager" (land at issue: catches a buffer refilled before
#     it was read) and "lazy" (land only at the cp.async.wait_group that covers them: catches reading too early);
#   - alignment of every cp.async / ldmatrix / 4-byte q load, and that the 8 row addresses of each ldmatrix phase
#     hit 8 distinct 16-byte bank groups (the XOR swizzle);
#   - that shared-memory use stays inside the 48 KB array and warps' rings do not overlap;
#   - rows the launch does not own stay NaN (token lists, heads of other groups).
# "exact" mode skips every bf16 rounding inside the kernel (P, outputs), so any layout error shows as a mismatch far
# above float64 noise; "bf16" mode rounds like the GPU and reports the relative error the cuda-check tolerance sees.
import math, random, struct, sys
from paged_layout import shuffled_block_tables
from mma_m16n8k16 import mma

WARPS = 4; THREADS = WARPS * 32; KEYS = 16; SPLIT_TILE = WARPS * KEYS; SMEM_BYTES = 49152
NEG = -math.inf
LN2 = 0.6931471805599453


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0] if math.isfinite(x) else x


def bf16(x):
    if not math.isfinite(x):
        return x
    b = struct.unpack('<I', struct.pack('<f', x))[0]
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    return struct.unpack('<f', struct.pack('<I', b))[0]



class Shared:
    """48 KB of shared memory as bf16 elements with a tag per 16-byte chunk, plus a float view for the merge."""

    def __init__(self):
        self.h = [math.nan] * (SMEM_BYTES // 2)
        self.tag = [None] * (SMEM_BYTES // 16)
        self.f = [math.nan] * (SMEM_BYTES // 4)

    def ldmatrix_x4(self, addr, trans, expect_tag):
        # addr[lane]: byte address of the 8-element row that lane supplies (row lane % 8 of matrix lane / 8)
        for i in range(4):
            phase = addr[8 * i:8 * i + 8]
            assert all(x % 16 == 0 and 0 <= x < SMEM_BYTES for x in phase), phase
            banks = {(x // 16) % 8 for x in phase}
            assert len(banks) == 8, f"ldmatrix phase {i} bank conflict: {phase}"
            for x in phase:
                assert self.tag[x // 16] == expect_tag, f"read chunk {x} tagged {self.tag[x // 16]}, expected {expect_tag}"
        regs = [[None] * 4 for _ in range(32)]
        for i in range(4):
            M = [self.h[addr[8 * i + r] // 2: addr[8 * i + r] // 2 + 8] for r in range(8)]
            for l in range(32):
                if not trans:
                    regs[l][i] = (M[l // 4][2 * (l % 4)], M[l // 4][2 * (l % 4) + 1])
                else:
                    regs[l][i] = (M[2 * (l % 4)][l // 4], M[2 * (l % 4) + 1][l // 4])
        return regs


class Warp:
    """Lanes in lockstep; cp.async groups per warp (every lane commits the same number of groups)."""

    def __init__(self, smem, timing):
        self.smem = smem; self.timing = timing
        self.pending = []  # (group, dst byte, values, tag)
        self.committed = 0

    def cp_async16(self, dst, src_values, tag):
        assert dst % 16 == 0 and 0 <= dst < SMEM_BYTES
        item = (self.committed, dst, src_values, tag)
        if self.timing == 'eager':
            self.land(item)
        else:
            self.pending.append(item)

    def land(self, item):
        _, dst, values, tag = item
        self.smem.h[dst // 2: dst // 2 + 8] = values
        self.smem.tag[dst // 16] = tag

    def commit(self):
        self.committed += 1

    def wait_group(self, n):
        # groups 0 .. committed - 1 - n must be complete
        keep = []
        for item in self.pending:
            if item[0] <= self.committed - 1 - n:
                self.land(item)
            else:
                keep.append(item)
        self.pending = keep


def shfl_xor(v, m):
    return [v[l ^ m] for l in range(32)]


def decode_attention_block(HD, RING, P, bx, by, bz, gridZ, smem, timing, exact):
    """One block of decode_attention (blockIdx = (bx, by, bz), gridDim.z = gridZ), written like the kernel."""
    q, qRowStride, out = P['q'], P['qRowStride'], P['out']
    partialOut, partialMax, partialSum = P['partialOut'], P['partialMax'], P['partialSum']
    kCache, vCache, blockTables, maxBlocks = P['k'], P['v'], P['tables'], P['maxBlocks']
    tokenSeq, tokenContext, tokenList = P['tokenSeq'], P['tokenContext'], P['tokenList']
    heads, kvHeads, blockSize, scale = P['heads'], P['kvHeads'], P['blockSize'], P['scale']
    rnd = (lambda x: x) if exact else bf16

    t = bx if tokenList is None else tokenList[bx]
    tableBase = tokenSeq[t] * maxBlocks
    context = tokenContext[t]

    ROW_BYTES = HD * 2; TILE_BYTES = KEYS * ROW_BYTES; DK = HD // 16; DN = HD // 8; OSTRIDE = HD + 8
    assert WARPS * RING * TILE_BYTES <= SMEM_BYTES and WARPS * 16 * (OSTRIDE + 2) * 4 <= SMEM_BYTES
    G = heads // kvHeads; g = by; h0 = g * G
    splits, split = gridZ, bz
    tilesPerSplit = ((context + SPLIT_TILE - 1) // SPLIT_TILE + splits - 1) // splits
    begin = split * tilesPerSplit * SPLIT_TILE; end = min(context, begin + tilesPerSplit * SPLIT_TILE)
    blockTiles = (max(end - begin, 0) + KEYS - 1) // KEYS
    kvStride = kvHeads * HD
    CHUNKS = HD // 8; ROWS = 32 // CHUNKS

    results = []
    for warp in range(WARPS):
        W = Warp(smem, timing)
        lanes = range(32)
        group = [l >> 2 for l in lanes]; quad = [l & 3 for l in lanes]
        count = (blockTiles - warp + WARPS - 1) // WARPS if blockTiles > warp else 0
        ring = warp * (RING * TILE_BYTES)
        loads = 2 * count
        slot = [-1] * 32

        def issue(load, buffer):
            nonlocal slot
            if load < loads:
                if (load & 1) == 0:
                    new = []
                    for l in lanes:
                        j = begin + (warp + WARPS * (load >> 1)) * KEYS + (l & (KEYS - 1))
                        new.append(blockTables[tableBase + j // blockSize] * blockSize + j % blockSize if j < end else -1)
                    slot = new
                cache = vCache if (load & 1) else kCache
                dst0 = ring + buffer * TILE_BYTES
                assert ring <= dst0 and dst0 + TILE_BYTES <= ring + RING * TILE_BYTES
                for i in range(KEYS // ROWS):
                    for l in lanes:
                        col = l % CHUNKS
                        row = i * ROWS + l // CHUNKS
                        s = slot[row]  # __shfl_sync(slot, row)
                        src = g * HD + col * 8 + (s * kvStride if s >= 0 else 0)
                        assert src % 8 == 0
                        values = cache[src:src + 8] if s >= 0 else [0.0] * 8
                        W.cp_async16(dst0 + row * ROW_BYTES + ((col ^ (row & 7)) << 4), values, (warp, load))
            W.commit()

        o = [[[0.0] * 4 for _ in lanes] for _ in range(DN)]
        m0 = [NEG] * 32; m1 = [NEG] * 32; l0 = [0.0] * 32; l1 = [0.0] * 32
        scaleLog2 = scale * 1.4426950408889634
        kRow = [(l & 7) + ((l >> 4) << 3) for l in lanes]; kHalf = [(l >> 3) & 1 for l in lanes]
        vRow = [(l & 7) + (((l >> 3) & 1) << 3) for l in lanes]; vHalf = [l >> 4 for l in lanes]
        swz = [l & 7 for l in lanes]

        for n in range(RING - 1):
            issue(n, n)
        # Q through the ring's last buffer: 16-byte loads stored swizzled (rows past G zero), then ldmatrix (A order)
        qTile = ring + (RING - 1) * TILE_BYTES
        for i in range(KEYS // ROWS):
            for l in lanes:
                col = l % CHUNKS
                row = i * ROWS + l // CHUNKS
                src = t * qRowStride + h0 * HD + col * 8 + row * HD
                assert src % 8 == 0
                dst = qTile + row * ROW_BYTES + ((col ^ (row & 7)) << 4)
                smem.h[dst // 2: dst // 2 + 8] = q[src:src + 8] if row < G else [0.0] * 8
                smem.tag[dst // 16] = ('q', warp)
        qf = [[None] * DK for _ in lanes]
        for kk in range(DK):
            a = smem.ldmatrix_x4([qTile + vRow[l] * ROW_BYTES + (((2 * kk + vHalf[l]) ^ swz[l]) << 4) for l in lanes], False, ('q', warp))
            for l in lanes:
                qf[l][kk] = a[l]
        readBuffer, writeBuffer = 0, RING - 1
        for i in range(count):
            issue(2 * i + RING - 1, writeBuffer)
            writeBuffer = 0 if writeBuffer == RING - 1 else writeBuffer + 1
            W.wait_group(RING - 1)
            kTile = ring + readBuffer * TILE_BYTES
            readBuffer = 0 if readBuffer == RING - 1 else readBuffer + 1
            s = [[[0.0] * 4 for _ in lanes] for _ in range(2)]
            for kk in range(DK):
                b = smem.ldmatrix_x4([kTile + kRow[l] * ROW_BYTES + (((2 * kk + kHalf[l]) ^ swz[l]) << 4) for l in lanes], False, (warp, 2 * i))
                a = [qf[l][kk] for l in lanes]
                mma(s[0], a, [b[l][0] for l in lanes], [b[l][1] for l in lanes])
                mma(s[1], a, [b[l][2] for l in lanes], [b[l][3] for l in lanes])
            for l in lanes:
                j = begin + (warp + WARPS * i) * KEYS + 2 * quad[l]
                for n in range(2):
                    for e in range(2):
                        valid = j + 8 * n + e < end
                        s[n][l][e] = s[n][l][e] * scaleLog2 if valid else NEG
                        s[n][l][2 + e] = s[n][l][2 + e] * scaleLog2 if valid else NEG
            mx0 = [max(s[0][l][0], s[0][l][1], s[1][l][0], s[1][l][1]) for l in lanes]
            mx1 = [max(s[0][l][2], s[0][l][3], s[1][l][2], s[1][l][3]) for l in lanes]
            for sh in (1, 2):
                mx0 = [max(a, b) for a, b in zip(mx0, shfl_xor(mx0, sh))]
                mx1 = [max(a, b) for a, b in zip(mx1, shfl_xor(mx1, sh))]
            for l in lanes:
                new0, new1 = max(m0[l], mx0[l]), max(m1[l], mx1[l])
                base0 = 0.0 if new0 == NEG else new0; base1 = 0.0 if new1 == NEG else new1
                c0, c1 = 2.0 ** (m0[l] - base0), 2.0 ** (m1[l] - base1)
                m0[l], m1[l] = new0, new1
                sum0 = sum1 = 0.0
                for n in range(2):
                    x = s[n][l]
                    x[0] = 2.0 ** (x[0] - base0); x[1] = 2.0 ** (x[1] - base0)
                    x[2] = 2.0 ** (x[2] - base1); x[3] = 2.0 ** (x[3] - base1)
                    sum0 += x[0] + x[1]; sum1 += x[2] + x[3]
                l0[l] = l0[l] * c0 + sum0; l1[l] = l1[l] * c1 + sum1
                for n in range(DN):
                    on = o[n][l]; on[0] *= c0; on[1] *= c0; on[2] *= c1; on[3] *= c1

            issue(2 * i + RING, writeBuffer)
            writeBuffer = 0 if writeBuffer == RING - 1 else writeBuffer + 1
            W.wait_group(RING - 1)
            vTile = ring + readBuffer * TILE_BYTES
            readBuffer = 0 if readBuffer == RING - 1 else readBuffer + 1
            p = [[(rnd(s[0][l][0]), rnd(s[0][l][1])), (rnd(s[0][l][2]), rnd(s[0][l][3])),
                  (rnd(s[1][l][0]), rnd(s[1][l][1])), (rnd(s[1][l][2]), rnd(s[1][l][3]))] for l in lanes]
            for n in range(0, DN, 2):
                b = smem.ldmatrix_x4([vTile + vRow[l] * ROW_BYTES + (((n + vHalf[l]) ^ swz[l]) << 4) for l in lanes], True, (warp, 2 * i + 1))
                mma(o[n], p, [b[l][0] for l in lanes], [b[l][1] for l in lanes])
                mma(o[n + 1], p, [b[l][2] for l in lanes], [b[l][3] for l in lanes])
        W.wait_group(0)
        assert not W.pending
        results.append((o, m0, m1, l0, l1))

    # __syncthreads(); merge through shared memory (float view over the rings)
    F = smem.f
    oS = 0; mS = WARPS * 16 * OSTRIDE; lS = mS + WARPS * 16
    assert lS + WARPS * 16 <= SMEM_BYTES // 4
    for warp, (o, m0, m1, l0, l1) in enumerate(results):
        for sh in (1, 2):
            l0 = [a + b for a, b in zip(l0, shfl_xor(l0, sh))]
            l1 = [a + b for a, b in zip(l1, shfl_xor(l1, sh))]
        for l in range(32):
            group, quad = l >> 2, l & 3
            r0 = warp * 16 + group; r1 = r0 + 8
            if group < G:
                for n in range(DN):
                    F[oS + r0 * OSTRIDE + n * 8 + 2 * quad] = o[n][l][0]; F[oS + r0 * OSTRIDE + n * 8 + 2 * quad + 1] = o[n][l][1]
                if quad == 0:
                    F[mS + r0] = m0[l]; F[lS + r0] = l0[l]
            if group + 8 < G:
                for n in range(DN):
                    F[oS + r1 * OSTRIDE + n * 8 + 2 * quad] = o[n][l][2]; F[oS + r1 * OSTRIDE + n * 8 + 2 * quad + 1] = o[n][l][3]
                if quad == 0:
                    F[mS + r1] = m1[l]; F[lS + r1] = l1[l]
    # __syncthreads()
    for tid in range(THREADS):
        for i in range(tid, G * (HD // 2), THREADS):
            r = i // (HD // 2); d = 2 * (i % (HD // 2))
            best = max(F[mS + w * 16 + r] for w in range(WARPS))
            ox = oy = lsum = 0.0
            for w in range(WARPS):
                mw = F[mS + w * 16 + r]
                weight = 0.0 if mw == NEG else 2.0 ** (mw - best)
                ox += weight * F[oS + (w * 16 + r) * OSTRIDE + d]; oy += weight * F[oS + (w * 16 + r) * OSTRIDE + d + 1]
                lsum += weight * F[lS + w * 16 + r]
            row = t * heads + h0 + r
            if splits == 1:
                inv = 1.0 / lsum
                out[row * HD + d] = rnd(ox * inv); out[row * HD + d + 1] = rnd(oy * inv)
            else:
                part = row * splits + split
                partialOut[part * HD + d] = ox; partialOut[part * HD + d + 1] = oy
                if d == 0:
                    partialMax[part] = best * LN2; partialSum[part] = lsum


def attention_combine(P, launched, HD, splits, exact):
    rnd = (lambda x: x) if exact else bf16
    for bx in range(launched):
        t = bx if P['tokenList'] is None else P['tokenList'][bx]
        for h in range(P['heads']):
            row = t * P['heads'] + h
            m = P['partialMax'][row * splits:(row + 1) * splits]
            assert not any(math.isnan(x) for x in m), f"partialMax unwritten for row {row}"
            best = max(m)
            w = [math.exp(x - best) for x in m]
            total = sum(w[s] * P['partialSum'][row * splits + s] for s in range(splits))
            for d in range(HD):
                acc = sum(w[s] * P['partialOut'][(row * splits + s) * HD + d] for s in range(splits))
                P['out'][row * HD + d] = rnd(acc / total)


def run(name, HD, heads, kvHeads, seqs, splits, blockSize=16, listed=None, timing='eager', exact=True, seed=1):
    """seqs: (cached, new) per sequence; listed: indices of the tokens to launch (tokenList) or None for all."""
    assert heads % kvHeads == 0 and heads // kvHeads <= 16 and HD in (64, 128)
    RING = 3 if HD == 128 else 6
    rnd_ = random.Random(seed)
    nb, tables, tl, maxBlocks = shuffled_block_tables(rnd_, seqs, blockSize)
    kvSize = kvHeads * HD; qSize = heads * HD; qStride = qSize + 2 * kvSize
    slots = nb * blockSize
    kC = [bf16(rnd_.uniform(-2, 2)) for _ in range(slots * kvSize)]
    vC = [bf16(rnd_.uniform(-1, 1)) for _ in range(slots * kvSize)]
    tokenSeq = []; tokenContext = []
    for s, (c, n) in enumerate(seqs):
        for i in range(n):
            tokenSeq.append(s); tokenContext.append(c + i + 1)
    T = len(tokenSeq)
    q = [bf16(rnd_.uniform(-2, 2)) for _ in range(T * qStride)]
    P = dict(q=q, qRowStride=qStride, out=[math.nan] * (T * qSize), partialOut=[math.nan] * (T * heads * splits * HD),
             partialMax=[math.nan] * (T * heads * splits), partialSum=[math.nan] * (T * heads * splits), k=kC, v=vC,
             tables=tables, maxBlocks=maxBlocks, tokenSeq=tokenSeq, tokenContext=tokenContext, tokenList=listed,
             heads=heads, kvHeads=kvHeads, blockSize=blockSize, scale=1 / math.sqrt(HD))
    launched = T if listed is None else len(listed)
    for bx in range(launched):
        for by in range(kvHeads):
            for bz in range(splits):
                decode_attention_block(HD, RING, P, bx, by, bz, splits, Shared(), timing, exact)
    if splits > 1:
        attention_combine(P, launched, HD, splits, exact)

    todo = set(range(T)) if listed is None else set(listed)
    out = P['out']; diff2 = norm2 = maxabs = 0.0
    G = heads // kvHeads
    for t in range(T):
        tb = tl[tokenSeq[t]]
        for h in range(heads):
            row = (t * heads + h) * HD
            if t not in todo:
                assert all(math.isnan(x) for x in out[row:row + HD]), f"{name}: wrote token {t} not in the list"
                continue
            g = h // G
            sc = []
            for j in range(tokenContext[t]):
                sl = tb[j // blockSize] * blockSize + j % blockSize
                sc.append(sum(q[t * qStride + h * HD + d] * kC[sl * kvSize + g * HD + d] for d in range(HD)) / math.sqrt(HD))
            mx = max(sc); p = [math.exp(x - mx) for x in sc]; z = sum(p)
            for d in range(HD):
                ref = sum(p[j] * vC[(tb[j // blockSize] * blockSize + j % blockSize) * kvSize + g * HD + d] for j in range(len(p))) / z
                got = out[row + d]
                if got != got:
                    raise SystemExit(f"{name}: NaN/unwritten at t={t} h={h} d={d}")
                diff2 += (got - ref) ** 2; norm2 += ref * ref; maxabs = max(maxabs, abs(got - ref))
    rel = math.sqrt(diff2 / max(norm2, 1e-30))
    limit = 1e-9 if exact else 1e-2
    status = "ok" if rel <= limit else "FAIL"
    print(f"[{status}] {name}: HD={HD} heads={heads}/{kvHeads} seqs={seqs} splits={splits} bs={blockSize} "
          f"list={listed} {timing} {'exact' if exact else 'bf16'}: max abs {maxabs:.3g} rel {rel:.3g}", flush=True)
    return status == "ok"


if __name__ == '__main__':
    quick = '--quick' in sys.argv
    ok = True
    decode = [(0, 1), (16, 1), (299, 1)]
    for timing in ('eager', 'lazy'):
        ok &= run("7B group of 7, 1 split", 128, 7, 1, decode + [(40, 3)], 1, timing=timing)
        ok &= run("7B group of 7, 4 splits", 128, 7, 1, decode, 4, timing=timing)
        ok &= run("group 16, d 64, 3 splits", 64, 16, 1, decode + [(40, 3)], 3, timing=timing)
    ok &= run("7B 28/4, 64 splits (empty splits)", 128, 28, 4, [(0, 1), (16, 1), (140, 1)], 64, timing='lazy')
    ok &= run("d 64 14/2, 2 splits, block size 8", 64, 14, 2, [(5, 1), (100, 2), (63, 1)], 2, blockSize=8)
    ok &= run("MHA 8/8 d 128, 2 splits", 128, 8, 8, [(33, 1), (0, 1)], 2, timing='lazy')
    ok &= run("group 16 d 128, 1 split", 128, 16, 1, [(70, 1), (0, 1)], 1, timing='lazy')
    ok &= run("group 4 (qwen3-8b-like) 8/2 d 128", 128, 8, 2, [(81, 1), (3, 1)], 1, blockSize=32)
    ok &= run("group 8 16/2 d 128, 3 splits", 128, 16, 2, [(200, 1)], 3, timing='lazy')
    ok &= run("group 6 12/2 d 128", 128, 12, 2, [(47, 1)], 1)
    ok &= run("token list (decode tokens of a mixed batch), 2 splits", 128, 7, 1, [(0, 4), (30, 1), (2, 3), (90, 1)], 2,
              listed=[4, 8], timing='lazy')
    ok &= run("token list, d 64, 1 split", 64, 6, 1, [(10, 2), (50, 1)], 1, listed=[2])
    if not quick:
        ok &= run("7B group of 7, long context, 4 splits", 128, 7, 1, [(1499, 1)], 4, timing='lazy')
        ok &= run("7B group of 7, 64 splits", 128, 7, 1, [(0, 1), (16, 1), (299, 1), (1499, 1)], 64)
        ok &= run("7B group of 7, bf16 rounding, 1 split", 128, 7, 1, decode + [(600, 1)], 1, exact=False)
        ok &= run("7B group of 7, bf16 rounding, 4 splits", 128, 7, 1, decode + [(600, 1)], 4, exact=False)
        ok &= run("d 64 group 16, bf16 rounding, 3 splits", 64, 16, 1, decode, 3, exact=False)
    print("all ok" if ok else "FAILURES")
    sys.exit(0 if ok else 1)
