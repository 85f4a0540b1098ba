"""mma.sync m16n8k16 (bf16 in, fp32 accumulate) per the PTX ISA fragment layouts, shared by the attention emulators."""


def mma(d, a, b0, b1):
    """d[lane] = [4 floats], accumulated in place; a[lane] = 4 (lo, hi) pairs; b0[lane], b1[lane] = (lo, hi)."""
    A = [[0.0] * 16 for _ in range(16)]; B = [[0.0] * 8 for _ in range(16)]; C = [[0.0] * 8 for _ in range(16)]
    for l in range(32):
        g, q = l >> 2, l & 3
        A[g][2 * q], A[g][2 * q + 1] = a[l][0]; A[g + 8][2 * q], A[g + 8][2 * q + 1] = a[l][1]
        A[g][2 * q + 8], A[g][2 * q + 9] = a[l][2]; A[g + 8][2 * q + 8], A[g + 8][2 * q + 9] = a[l][3]
        B[2 * q][g], B[2 * q + 1][g] = b0[l]; B[2 * q + 8][g], B[2 * q + 9][g] = b1[l]
        C[g][2 * q], C[g][2 * q + 1], C[g + 8][2 * q], C[g + 8][2 * q + 1] = d[l]
    for r in range(16):
        Ar = A[r]
        for c in range(8):
            C[r][c] += sum(Ar[k] * B[k][c] for k in range(16))
    for l in range(32):
        g, q = l >> 2, l & 3
        d[l] = [C[g][2 * q], C[g][2 * q + 1], C[g + 8][2 * q], C[g + 8][2 * q + 1]]
