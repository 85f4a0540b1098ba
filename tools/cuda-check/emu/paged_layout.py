"""The paged KV layout the attention emulators share: each sequence's blocks drawn from one shuffled pool."""


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
