# Mutation check of decode_attention_emu.py: each edit below breaks one index formula or ordering of the emulated
# kernel; the emulator's tests must catch every one (the three marked equivalent change nothing observable).
#   python3 tools/cuda-check/emu/decode_attention_mutations.py
import os, subprocess, sys
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'decode_attention_emu.py')).read()
main_marker = "if __name__ == '__main__':"
head = src[:src.index(main_marker)]
tests = '''
import sys
ok = True
for timing in ('eager', 'lazy'):
    try:
        ok &= run("a", 128, 7, 1, [(0, 1), (16, 1), (37, 1)], 2, timing=timing)
        ok &= run("b", 64, 16, 1, [(40, 2)], 3, blockSize=8, timing=timing)
        ok &= run("c", 128, 16, 2, [(21, 1)], 1, timing=timing, listed=[0])
        ok &= run("d", 128, 7, 1, [(299, 1)], 3, timing=timing)
        ok &= run("e", 64, 6, 1, [(299, 1)], 1, timing=timing)
    except (AssertionError, SystemExit, Exception) as e:
        print("caught", type(e).__name__, str(e)[:100]); ok = False
    if not ok: break
sys.exit(0 if ok else 1)
'''
muts = [
 ("kHalf = [(l >> 3) & 1", "kHalf = [(l >> 4) & 1"),
 ("vHalf = [l >> 4 for l in lanes]", "vHalf = [(l >> 3) & 1 for l in lanes]"),
 ("swz = [l & 7 for l in lanes]", "swz = [0 for l in lanes]"),
 ("W.wait_group(RING - 1)\n            kTile", "W.wait_group(RING)\n            kTile"),
 ("issue(2 * i + RING, writeBuffer)", "issue(2 * i + RING + 1, writeBuffer)"),
 ("readBuffer, writeBuffer = 0, RING - 1", "readBuffer, writeBuffer = 0, 0"),
 ("valid = j + 8 * n + e < end", "valid = j + 8 * n + e <= end"),
 ("(rnd(s[1][l][0]), rnd(s[1][l][1])), (rnd(s[1][l][2]), rnd(s[1][l][3]))", "(rnd(s[1][l][2]), rnd(s[1][l][3])), (rnd(s[1][l][0]), rnd(s[1][l][1]))"),
 ("values = cache[src:src + 8] if s >= 0 else [0.0] * 8", "values = cache[src:src + 8] if s >= 0 else [math.nan] * 8"),
 ("count = (blockTiles - warp + WARPS - 1) // WARPS", "count = (blockTiles - warp + WARPS - 2) // WARPS"),
 ("j = begin + (warp + WARPS * (load >> 1)) * KEYS + (l & (KEYS - 1))", "j = begin + (warp * WARPS + (load >> 1)) * KEYS + (l & (KEYS - 1))"),
 ("weight = 0.0 if mw == NEG else 2.0 ** (mw - best)", "weight = 2.0 ** (mw - best)"),
 ("partialMax[part] = best * LN2", "partialMax[part] = best"),
 ("dst = qTile + row * ROW_BYTES + ((col ^ (row & 7)) << 4)", "dst = qTile + row * ROW_BYTES + (col << 4)"),
 ("(((2 * kk + vHalf[l]) ^ swz[l]) << 4) for l in lanes], False, ('q', warp))", "(((2 * kk + kHalf[l]) ^ swz[l]) << 4) for l in lanes], False, ('q', warp))"),
 ("if row < G else [0.0] * 8", "if row < G + 1 else [0.0] * 8"),  # equivalent: a row past G only makes an S row nobody writes
 ("if (load & 1) == 0:\n                    new", "if True:\n                    new"),  # equivalent: the V load recomputes the same slots
 ("F[mS + r0] = m0[l]; F[lS + r0] = l0[l]", "F[mS + r0] = m0[l]; F[lS + r0] = l1[l]"),
 ("l0 = [a + b for a, b in zip(l0, shfl_xor(l0, sh))]", "pass"),
 ("OSTRIDE = HD + 8", "OSTRIDE = HD"),  # equivalent: padding only
 ("vRow = [(l & 7) + (((l >> 3) & 1) << 3)", "vRow = [(l & 7) + ((l >> 4) << 3)"),
]
for a, b in muts:
    assert head.count(a) >= 1, a
    code = head.replace(a, b, 1) + tests
    # from the emulators' folder, so `import paged_layout` finds its module
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
    print(("CAUGHT " if r.returncode != 0 else "MISSED ") + a[:70].replace("\n", " | "), "->", (r.stdout.strip().splitlines() or [''])[-1][:110])
