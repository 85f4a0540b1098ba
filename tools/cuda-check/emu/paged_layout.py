"""The paged KV layout the attention emulators share: each sequence's blocks drawn from one shuffled pool, and plain
softmax attention over it in float64 to check their outputs against."""
import math


def shuffled_block_tables(rnd, seqs, block_size):
    """seqs: (cached, new) tokens per sequence. Returns the pool size (3 blocks spare), the block tables flattened as
    [sequence * max_blocks + i], each sequence's block list, and max_blocks (the table width)."""
    need = [(c + n + block_size - 1) // block_size for c, n in seqs]
    pool = sum(need) + 3
    blocks = list(range(pool))
    rnd.shuffle(blocks)
    max_blocks = max(need)
    tables = [0] * (len(seqs) * max_blocks)
    per_seq = []
    taken = 0
    for i, count in enumerate(need):
        own = blocks[taken:taken + count]
        taken += count
        per_seq.append(own)
        tables[i * max_blocks:i * max_blocks + count] = own
    return pool, tables, per_seq, max_blocks


def max_attention_error(q, q_stride, out, k_cache, v_cache, token_seq, token_context, per_seq, heads, kv_heads, head_dim,
                        block_size, scale):
    """Largest |out - attention| over every token and query head (out rows of heads * head_dim); an unwritten (NaN)
    output fails at once."""
    kv_size, q_size = kv_heads * head_dim, heads * head_dim
    worst = 0.0
    for t in range(len(token_seq)):
        table = per_seq[token_seq[t]]
        slots = [table[j // block_size] * block_size + j % block_size for j in range(token_context[t])]
        for h in range(heads):
            g = h // (heads // kv_heads)
            scores = [sum(q[t * q_stride + h * head_dim + d] * k_cache[s * kv_size + g * head_dim + d] for d in range(head_dim)) * scale
                      for s in slots]
            m = max(scores); p = [math.exp(x - m) for x in scores]; z = sum(p)
            for d in range(head_dim):
                ref = sum(p[j] * v_cache[s * kv_size + g * head_dim + d] for j, s in enumerate(slots)) / z
                got = out[t * q_size + h * head_dim + d]
                if got != got: raise SystemExit(f"FAIL NaN/unwritten at t={t} h={h} d={d}")
                worst = max(worst, abs(got - ref))
    return worst
