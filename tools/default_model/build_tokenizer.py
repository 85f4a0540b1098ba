"""Builds the default model's tokenizer: tokenizer.json + tokenizer_config.json in Hugging Face format.

A byte-level BPE with Qwen2/Qwen3's pre-tokenizer (the same split regex: every digit is its own pre-token, so
numbers are always single-digit tokens) and a few hundred merges learned from the task corpus. Because the
pipeline is the one Qwen uses, any tokenizer that handles Qwen3's tokenizer.json handles this one.

The trainer, the encoder used to check it and the JSON writer are plain Python (plus `regex`, which transformers
depends on), so the tokenizer is built and tested on machines without the `tokenizers` library; the file has the
exact layout `tokenizers` itself writes for Qwen3. Where `tokenizers` is installed, check_with_tokenizers()
compares its encodings with ours. The output is deterministic: the same corpus seed gives the same file.

    python3 build_tokenizer.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from collections import Counter

import regex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chat_format  # noqa: E402
import tasks  # noqa: E402

# Qwen2/Qwen3's pre-tokenizer pattern (letters, single digits, punctuation runs, newlines, spaces).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TARGET_VOCAB = 512          # base bytes + merges + added tokens, at most
CORPUS_SEED = 7
CORPUS_SIZE = 6000
MIN_PAIR_COUNT = 20         # a merge must be worth it in the corpus; rarer pairs stay split


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by every ByteLevel tokenizer."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
_SPLIT = regex.compile(SPLIT_PATTERN)
_ADDED = regex.compile("|".join(regex.escape(t) for t, _ in sorted(chat_format.ADDED_TOKENS, key=lambda x: -len(x[0]))))


def pretokenize(text: str) -> list[str]:
    """NFC, the split regex, then bytes mapped to characters: the words BPE works on."""
    text = unicodedata.normalize("NFC", text)
    return ["".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8")) for piece in _SPLIT.findall(text)]


def split_added(text: str) -> list[tuple[str, bool]]:
    """(piece, is_added_token) in order; added tokens are matched on the raw text, as normalized=false asks."""
    out, pos = [], 0
    for m in _ADDED.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((m.group(0), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def corpus_texts() -> list[str]:
    """Training-like texts. Counting words are left out so merges come from our fixed phrasing, not from the
    word list: words then split into small pieces whose spelling the model can learn."""
    texts = []
    for i, ex in enumerate(tasks.training_examples(CORPUS_SEED, CORPUS_SIZE, frozenset())):
        system = chat_format.DEFAULT_SYSTEM if i % 10 == 0 else None
        text = chat_format.render_prompt(ex.question, system) + chat_format.completion(ex.reasoning, ex.answer)
        if ex.task == "count":
            text = text.replace(ex.key[1], "")
        texts.append(text)
    return texts


def train_merges(texts: list[str], max_merges: int, min_count: int) -> list[tuple[str, str]]:
    words: Counter = Counter()
    for text in texts:
        for piece, added in split_added(text):
            if not added:
                words.update(pretokenize(piece))
    symbols = {w: list(w) for w in words}
    merges: list[tuple[str, str]] = []
    while len(merges) < max_merges:
        pairs: Counter = Counter()
        for w, n in words.items():
            s = symbols[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += n
        if not pairs:
            break
        # Most frequent pair; ties broken by the pair itself so the result never depends on dict order.
        best, count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < min_count:
            break
        merges.append(best)
        for w in words:
            symbols[w] = _merge(symbols[w], best)
    return merges


def _merge(s: list[str], pair: tuple[str, str]) -> list[str]:
    out, i = [], 0
    while i < len(s):
        if i + 1 < len(s) and s[i] == pair[0] and s[i + 1] == pair[1]:
            out.append(s[i] + s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return out


class ReferenceTokenizer:
    """What tokenizers' BPE does with our tokenizer.json (merges applied lowest rank first), in plain Python."""

    def __init__(self, tokenizer_json: dict):
        model = tokenizer_json["model"]
        self.vocab: dict[str, int] = model["vocab"]
        self.ranks = {tuple(m): i for i, m in enumerate(model["merges"])}
        self.added = {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}
        self.id_to_token = {i: t for t, i in self.vocab.items()} | {i: t for t, i in self.added.items()}
        self._cache: dict[str, list[int]] = {}

    def _bpe(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        s = list(word)
        while len(s) > 1:
            best = None
            for i in range(len(s) - 1):
                rank = self.ranks.get((s[i], s[i + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None:
                break
            i = best[1]
            s = _merge(s, (s[i], s[i + 1]))
        ids = [self.vocab[t] for t in s]
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece, added in split_added(text):
            if added:
                ids.append(self.added[piece])
            else:
                for word in pretokenize(piece):
                    ids.extend(self._bpe(word))
        return ids

    def decode(self, ids: list[int]) -> str:
        out, pending = [], bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            if tok in self.added:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
                out.append(tok)
            else:
                pending.extend(CHAR_TO_BYTE[c] for c in tok)
        out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)


def build_tokenizer_json(merges: list[tuple[str, str]]) -> dict:
    vocab: dict[str, int] = {}
    for b in range(256):
        vocab[BYTE_TO_CHAR[b]] = b
    for a, b in merges:
        if a not in vocab or b not in vocab:
            raise AssertionError(f"merge {a!r} {b!r} uses a token that is not in the vocabulary")
        if a + b not in vocab:  # two merge paths can reach the same string; the token exists once
            vocab[a + b] = len(vocab)
    added = []
    for content, special in chat_format.ADDED_TOKENS:
        added.append({"id": len(vocab) + len(added), "content": content, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": special})
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
            dict(byte_level)]},
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [list(m) for m in merges]},
    }


def build_tokenizer_config(tokenizer_json: dict, max_length: int) -> dict:
    decoder = {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
               for t in tokenizer_json["added_tokens"]}
    return {
        "added_tokens_decoder": decoder,
        "bos_token": None,
        "chat_template": chat_format.chat_template(),
        "clean_up_tokenization_spaces": False,
        "eos_token": chat_format.IM_END,
        "model_max_length": max_length,
        "pad_token": chat_format.ENDOFTEXT,
        "split_special_tokens": False,
        # The generic fast tokenizer: transformers loads tokenizer.json as it is, with no model-specific rebuilding.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }


def build(out_dir: str, max_length: int = 512) -> dict:
    """Writes tokenizer.json and tokenizer_config.json into out_dir; returns the tokenizer.json dict."""
    max_merges = TARGET_VOCAB - 256 - len(chat_format.ADDED_TOKENS)
    merges = train_merges(corpus_texts(), max_merges, MIN_PAIR_COUNT)
    tok = build_tokenizer_json(merges)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=2)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(build_tokenizer_config(tok, max_length), f, ensure_ascii=False, indent=2)
    return tok


def vocab_size(tokenizer_json: dict) -> int:
    return len(tokenizer_json["model"]["vocab"]) + len(tokenizer_json["added_tokens"])


def check_with_tokenizers(path: str, texts: list[str]) -> list[str]:
    """Problems found when the `tokenizers` library loads path and encodes texts; [] when all agree with ours."""
    from tokenizers import Tokenizer  # only where the library is installed

    with open(path, encoding="utf-8") as f:
        ref = ReferenceTokenizer(json.load(f))
    lib = Tokenizer.from_file(path)
    problems = []
    for text in texts:
        got = lib.encode(text, add_special_tokens=False).ids
        want = ref.encode(text)
        if got != want:
            problems.append(f"encode differs for {text[:60]!r}: tokenizers {got[:20]} vs reference {want[:20]}")
        back = lib.decode(got, skip_special_tokens=False)
        if back != text:
            problems.append(f"decode(encode(x)) != x for {text[:60]!r}: {back[:60]!r}")
        if len(problems) > 10:
            break
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tok = build(args.out)
    print(f"tokenizer: {len(tok['model']['merges'])} merges, vocabulary {vocab_size(tok)} -> {args.out}")


if __name__ == "__main__":
    main()
