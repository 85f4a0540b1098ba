"""Checks everything about the default model that runs without torch: run before any GPU time is spent.

  python3 selftest.py [--quick]

- every reasoning text is re-parsed and each step re-verified by independent arithmetic (not by the generator);
- held-out problems never appear in training; solve() and check_answer() agree with the generator;
- chat_template.jinja, rendered as transformers renders it (Jinja2 sandbox, trim_blocks, lstrip_blocks), gives
  exactly chat_format.render_prompt() and the Qwen-style multi-turn text;
- the tokenizer: Qwen3's tokenizer.json layout, digits and think tags as single tokens, decode(encode(x)) == x,
  sequences within the model's context; compared with the `tokenizers` library where it is installed;
- every Python file compiles.
Ends with the plain line "N passed, N failed".
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import py_compile
import random
import re
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import build_tokenizer  # noqa: E402
import chat_format  # noqa: E402
import tasks  # noqa: E402

PLACES = ["units", "tens", "hundreds", "thousands"]
MAX_TRAIN_TOKENS = 256  # train.py pads to this; must hold the longest example with a system prompt


def digit(x: int, place: int) -> int:
    return (x // 10 ** place) % 10


def ndigits_text(n: int) -> str:
    return "1 digit" if n == 1 else f"{n} digits"


def verify_add(ex: tasks.Example) -> None:
    m = re.fullmatch(r"What is (\d+) \+ (\d+)\?", ex.question)
    assert m, ex.question
    a, b = int(m.group(1)), int(m.group(2))
    lines = ex.reasoning.split("\n")
    assert lines[0] == (f"{a} has {ndigits_text(len(str(a)))}, {b} has {ndigits_text(len(str(b)))}. "
                        f"Add column by column from the right."), lines[0]
    columns = max(len(str(a)), len(str(b)))
    assert len(lines) == columns + 2, ex.reasoning
    carry, so_far = 0, ""
    for place, line in enumerate(lines[1:-1]):
        m = re.fullmatch(r"(\w+): (\d)\+(\d)(?:\+(\d))?=(\d+), write (\d), carry (\d)\. So far: (\d+)", line)
        assert m, line
        name, x, y, c, total, w, c_out, sf = m.groups()
        assert name == PLACES[place], line
        assert int(x) == digit(a, place) and int(y) == digit(b, place), f"wrong digits copied: {line}"
        assert (c is None) == (place == 0), f"carry-in shown only after the units: {line}"
        c_in = 0 if c is None else int(c)
        assert c_in == carry, f"carry-in is not the previous carry: {line}"
        assert int(total) == int(x) + int(y) + c_in, f"bad sum: {line}"
        assert int(w) == int(total) % 10 and int(c_out) == int(total) // 10, f"bad digit/carry: {line}"
        assert sf == w + so_far, f"so-far is not the new digit before the previous ones: {line}"
        carry, so_far = int(c_out), sf
    m = re.fullmatch(r"The last carry is (\d), so (\d+) \+ (\d+) = (\d+)\.", lines[-1])
    assert m, lines[-1]
    assert int(m.group(1)) == carry and int(m.group(2)) == a and int(m.group(3)) == b
    assert m.group(4) == (f"{carry}{so_far}" if carry else so_far), lines[-1]
    assert int(m.group(4)) == a + b and ex.answer == m.group(4) == str(a + b)


def verify_sub(ex: tasks.Example) -> None:
    m = re.fullmatch(r"What is (\d+) - (\d+)\?", ex.question)
    assert m, ex.question
    a, b = int(m.group(1)), int(m.group(2))
    sa, sb = str(a), str(b)
    lines = ex.reasoning.split("\n")
    head = f"{sa} has {ndigits_text(len(sa))}, {sb} has {ndigits_text(len(sb))}"
    rel = "<" if a < b else (">" if a > b else "=")
    if len(sa) != len(sb):
        assert lines[0] == f"{head}, so {sa} {rel} {sb}.", lines[0]
        assert (len(sa) < len(sb)) == (a < b)
    else:
        m = re.fullmatch(re.escape(head) + r"\. From the left: (.*), so (\d+) ([<>=]) (\d+)\.", lines[0])
        assert m, lines[0]
        steps = m.group(1).split(", ")
        for i, step in enumerate(steps):
            x, op, y = step[0], step[1], step[2]
            assert len(step) == 3 and x == sa[i] and y == sb[i], f"compare copies the wrong digits: {lines[0]}"
            assert op == ("<" if x < y else (">" if x > y else "=")), lines[0]
            assert (op == "=") == (i < len(steps) - 1) or (op == "=" and i == len(sa) - 1), lines[0]
        assert m.group(2) == sa and m.group(4) == sb and m.group(3) == rel, lines[0]
    swapped = a < b
    top, bottom = (b, a) if swapped else (a, b)
    if swapped:
        assert lines[1] == f"{sa} is smaller, so compute {top} - {bottom} column by column, then negate.", lines[1]
    else:
        assert lines[1] == f"Compute {top} - {bottom} column by column from the right.", lines[1]
    assert len(lines) == len(str(top)) + 3, ex.reasoning
    borrow, so_far = 0, ""
    for place, line in enumerate(lines[2:-1]):
        m = re.fullmatch(r"(\w+): (\d)-(\d)(?:-(\d))?=(-?\d+)(?:, \+10=(\d))?, borrow (\d)\. So far: (\d+)", line)
        assert m, line
        name, x, y, r, diff, plus10, b_out, sf = m.groups()
        assert name == PLACES[place], line
        assert int(x) == digit(top, place) and int(y) == digit(bottom, place), f"wrong digits copied: {line}"
        assert (r is None) == (place == 0), line
        r_in = 0 if r is None else int(r)
        assert r_in == borrow, f"borrow-in is not the previous borrow: {line}"
        d = int(diff)
        assert d == int(x) - int(y) - r_in, f"bad difference: {line}"
        assert (plus10 is not None) == (d < 0) and int(b_out) == (1 if d < 0 else 0), f"bad borrow: {line}"
        w = d + 10 if d < 0 else d
        if plus10 is not None:
            assert int(plus10) == w, line
        assert sf == f"{w}{so_far}", f"bad so-far: {line}"
        borrow, so_far = int(b_out), sf
    assert borrow == 0
    m = re.fullmatch(r"Without leading zeros: (\d+)\. So (\d+) - (\d+) = (-?\d+)\.", lines[-1])
    assert m, lines[-1]
    mag = so_far.lstrip("0") or "0"
    assert m.group(1) == mag and int(m.group(2)) == a and int(m.group(3)) == b, lines[-1]
    assert m.group(4) == (f"-{mag}" if swapped else mag), lines[-1]
    assert int(m.group(4)) == a - b and ex.answer == m.group(4) == str(a - b)


def verify_count(ex: tasks.Example) -> None:
    m = re.fullmatch(r"How many ([a-z])'s are in ([a-z]+)\?", ex.question)
    assert m, ex.question
    letter, word = m.groups()
    m = re.fullmatch(r"Spell ([a-z]+) and count ([a-z]): (.*)\. So ([a-z]+) has (\d+) ([a-z])'s\.", ex.reasoning)
    assert m, ex.reasoning
    assert m.group(1) == word and m.group(2) == letter and m.group(4) == word and m.group(6) == letter
    parts = m.group(3).split(", ")
    assert "".join(p.split(" ")[0] for p in parts) == word, "the spelling is not the word"
    running = 0
    for p in parts:
        ch, n = p.split(" ")
        running += ch == letter
        assert int(n) == running, f"bad running count at {p!r}: {ex.reasoning}"
    assert int(m.group(5)) == running == word.count(letter) and ex.answer == str(running)


VERIFY = {"add": verify_add, "sub": verify_sub, "count": verify_count}


def edge_examples() -> list[tasks.Example]:
    out = []
    special = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 5000, 9990, 9998, 9999, 4827, 4819, 389]
    for a in special:
        for b in special:
            out += [tasks.addition(a, b), tasks.subtraction(a, b)]
    for word in tasks.WORDS:
        for letter in sorted(set(word)) + ["z", "q"]:
            out.append(tasks.letter_count(word, letter))
    return out


# ----------------------------------------------------------------------------------------------------------------

def test_reasoning_steps_verify(quick: bool) -> None:
    n = 3000 if quick else 30000
    exs = tasks.training_examples(1, n, frozenset()) + edge_examples()
    for ex in exs:
        VERIFY[ex.task](ex)
    print(f"  verified {len(exs)} reasoning texts step by step")


def test_exhaustive_small_operands() -> None:
    for a in range(0, 120):
        for b in range(0, 120):
            verify_add(tasks.addition(a, b))
            verify_sub(tasks.subtraction(a, b))


def test_known_answers() -> None:
    cases = {"What is 4827 + 389?": "5216", "What is 9999 + 9999?": "19998", "What is 0 + 0?": "0",
             "What is 389 - 4827?": "-4438", "What is 1000 - 997?": "3", "What is 5 - 5?": "0",
             "What is 0 - 9999?": "-9999", "What is 4827 - 4819?": "8",
             "How many r's are in strawberry?": "3", "How many s's are in mississippi?": "4",
             "How many z's are in banana?": "0"}
    for q, want in cases.items():
        ex = tasks.solve(q)
        assert ex.answer == want, (q, ex.answer, want)
        assert ex.question == q
        assert tasks.check_answer(want, f" {want}\n") and not tasks.check_answer(want, want + "0")


def test_solve_roundtrip_and_rejects_other_text() -> None:
    for ex in tasks.training_examples(3, 2000, frozenset()):
        assert tasks.solve(ex.question) == ex
    for bad in ["What is 10000 + 1?", "What is 1 * 2?", "hello", "How many R's are in banana?"]:
        try:
            tasks.solve(bad)
        except ValueError:
            continue
        raise AssertionError(f"solve accepted {bad!r}")


def test_heldout_is_deterministic_distinct_and_excluded_from_training() -> None:
    h1, h2 = tasks.heldout_set(500), tasks.heldout_set(500)
    assert h1 == h2, "held-out set must not change between runs"
    keys = [e.key for e in h1]
    assert len(set(keys)) == len(keys) == 1500
    for task in tasks.TASKS:
        assert sum(e.task == task for e in h1) == 500
    reserved = tasks.heldout_keys()
    assert set(keys) <= reserved and len(reserved) == 3 * tasks.HELDOUT_RESERVED
    train = tasks.training_examples(11, 50000, reserved)
    assert not any(e.key in reserved for e in train)
    # The sampler would hit held-out problems often without the exclusion, so the exclusion is doing work.
    unfiltered = tasks.training_examples(11, 50000, frozenset())
    assert sum(e.key in reserved for e in unfiltered) > 0
    counts = {t: sum(e.task == t for e in train) for t in tasks.TASKS}
    assert all(counts[t] > 0.1 * len(train) for t in tasks.TASKS), counts
    short = sum(1 for e in train if e.task == "add" and min(e.key[1], e.key[2]) < 100)
    assert short > 0.05 * counts["add"], "short operands must be common in training"


def _hf_like_env():
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # transformers renders chat templates in this environment (plus a few globals we do not use).
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(chat_format.chat_template())


def test_chat_template_matches_render_prompt() -> None:
    tpl = _hf_like_env()
    for ex in tasks.training_examples(5, 200, frozenset()):
        for system in (None, chat_format.DEFAULT_SYSTEM):
            msgs = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": ex.question}]
            for thinking in (True, False):
                kw = {} if thinking else {"enable_thinking": False}
                text = tpl.render(messages=msgs, add_generation_prompt=True, **kw)
                assert text == chat_format.render_prompt(ex.question, system, thinking), repr(text)
            text = tpl.render(messages=msgs, add_generation_prompt=True, enable_thinking=True)
            assert text.endswith("<|im_start|>assistant\n<think>\n")
            assert not tpl.render(messages=msgs, add_generation_prompt=False).endswith("assistant\n")


def test_chat_template_training_text_equals_rendered_conversation() -> None:
    """The training text (prompt + completion) is what the template renders for the finished conversation."""
    tpl = _hf_like_env()
    ex = tasks.addition(4827, 389)
    msgs = [{"role": "user", "content": ex.question},
            {"role": "assistant", "content": ex.answer, "reasoning_content": ex.reasoning}]
    text = tpl.render(messages=msgs, add_generation_prompt=False)
    assert text == chat_format.render_prompt(ex.question) + chat_format.completion(ex.reasoning, ex.answer) + "\n"
    # Reasoning inline in content is split out the same way.
    msgs[1] = {"role": "assistant", "content": f"<think>\n{ex.reasoning}\n</think>\n\n{ex.answer}"}
    assert tpl.render(messages=msgs, add_generation_prompt=False) == text


def test_chat_template_drops_reasoning_of_earlier_turns() -> None:
    tpl = _hf_like_env()
    a1, a2 = tasks.addition(12, 30), tasks.subtraction(7, 9)
    msgs = [{"role": "system", "content": "S"},
            {"role": "user", "content": a1.question},
            {"role": "assistant", "content": f"<think>\n{a1.reasoning}\n</think>\n\n{a1.answer}"},
            {"role": "user", "content": a2.question}]
    text = tpl.render(messages=msgs, add_generation_prompt=True)
    want = ("<|im_start|>system\nS<|im_end|>\n"
            f"<|im_start|>user\n{a1.question}<|im_end|>\n"
            f"<|im_start|>assistant\n{a1.answer}<|im_end|>\n"
            f"<|im_start|>user\n{a2.question}<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n")
    assert text == want, repr(text)
    nothink = tpl.render(messages=msgs, add_generation_prompt=True, enable_thinking=False)
    assert nothink == want + "\n</think>\n\n", repr(nothink)
    # content None (e.g. a tool-call turn) renders as empty text rather than failing
    tpl.render(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": None}])


def test_split_reasoning() -> None:
    assert chat_format.split_reasoning("a\nb\n</think>\n\n42<|im_end|>") == ("a\nb", "42")
    assert chat_format.split_reasoning("no close") == (None, "")
    assert chat_format.split_reasoning("r\n</think>\n\n7") == ("r", "7")


def _build_tokenizer(tmp: str) -> dict:
    return build_tokenizer.build(tmp)


def test_tokenizer_layout_and_tokens(tmp: str) -> None:
    tok = _build_tokenizer(tmp)
    again = build_tokenizer.build(os.path.join(tmp, "again"))
    assert json.dumps(tok) == json.dumps(again), "tokenizer build must be deterministic"
    qwen = os.path.join(HERE, "..", "..", "testdata", "tokenizers", "qwen3", "tokenizer.json")
    if os.path.exists(qwen):
        with open(qwen, encoding="utf-8") as f:
            q = json.load(f)
        assert list(q) == list(tok), (list(q), list(tok))
        for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
            assert q[key] == tok[key], key
        assert list(q["model"]) == list(tok["model"])
        assert {k: v for k, v in q["model"].items() if k not in ("vocab", "merges")} == \
               {k: v for k, v in tok["model"].items() if k not in ("vocab", "merges")}
        assert list(q["added_tokens"][0]) == list(tok["added_tokens"][0])
    else:
        print("  (qwen3 tokenizer.json not fetched: layout comparison skipped; run tools/fetch-tokenizers.sh)")
    vocab = tok["model"]["vocab"]
    size = build_tokenizer.vocab_size(tok)
    assert 300 <= size <= 1000, size
    ids = sorted(list(vocab.values()) + [t["id"] for t in tok["added_tokens"]])
    assert ids == list(range(size)), "ids must be 0..V-1 without gaps"
    for a, b in tok["model"]["merges"]:
        assert a in vocab and b in vocab and a + b in vocab
    added = {t["content"]: t for t in tok["added_tokens"]}
    assert [t["content"] for t in tok["added_tokens"]] == [c for c, _ in chat_format.ADDED_TOKENS]
    assert added["<think>"]["special"] is False and added["</think>"]["special"] is False
    assert added["<|im_end|>"]["special"] is True
    with open(os.path.join(tmp, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    assert cfg["eos_token"] == "<|im_end|>" and cfg["pad_token"] == "<|endoftext|>"
    assert cfg["chat_template"] == chat_format.chat_template()
    assert {int(k): v["content"] for k, v in cfg["added_tokens_decoder"].items()} == \
           {t["id"]: t["content"] for t in tok["added_tokens"]}
    for d in "0123456789":
        assert d in vocab
    for merged in vocab:
        assert not re.search(r"\d", merged) or len(merged) == 1, f"a token holds a digit with more: {merged!r}"


def test_tokenizer_roundtrip_and_lengths(tmp: str, quick: bool) -> None:
    with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
        ref = build_tokenizer.ReferenceTokenizer(json.load(f))
    exs = tasks.training_examples(9, 2000 if quick else 20000, frozenset()) + edge_examples()
    longest = 0
    digit_ids = {ref.vocab[d] for d in "0123456789"}
    for ex in exs:
        prompt = chat_format.render_prompt(ex.question, chat_format.DEFAULT_SYSTEM)
        text = prompt + chat_format.completion(ex.reasoning, ex.answer)
        ids = ref.encode(text)
        assert ref.decode(ids) == text
        # The prompt tokenizes the same alone as inside the full text, so training targets start exactly where
        # generation starts.
        p = ref.encode(prompt)
        assert ids[:len(p)] == p
        assert ids[len(p)-2:len(p)] == [ref.added["<think>"], ref.vocab["Ċ"]]
        assert ids[-1] == ref.added["<|im_end|>"]
        # Every digit of the answer is one token.
        ans = ref.encode(ex.answer)
        assert len([i for i in ans if i in digit_ids]) == len(ex.answer.lstrip("-"))
        longest = max(longest, len(ids))
    assert longest <= MAX_TRAIN_TOKENS, longest
    for text in ["héllo wörld ☃ 日本 \t\n\n  x", "<think>\n\n</think>\n\n", "What is 12+3?", "  spaces   "]:
        assert ref.decode(ref.encode(text)) == text
    print(f"  longest training sequence: {longest} tokens (limit {MAX_TRAIN_TOKENS})")


def test_tokenizers_library_agrees(tmp: str) -> None:
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        print("  (tokenizers library not installed here: cross-check runs on the GPU machine in train.py)")
        return
    texts = [chat_format.render_prompt(e.question) + chat_format.completion(e.reasoning, e.answer)
             for e in tasks.training_examples(4, 500, frozenset())]
    problems = build_tokenizer.check_with_tokenizers(os.path.join(tmp, "tokenizer.json"), texts)
    assert not problems, "\n".join(problems)


def test_python_files_compile() -> None:
    for path in sorted(glob.glob(os.path.join(HERE, "*.py"))):
        py_compile.compile(path, doraise=True, cfile=os.path.join(tempfile.gettempdir(), "dm_pyc_check.pyc"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer random samples")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dm_selftest_")
    tests = [
        ("reasoning_steps_verify", lambda: test_reasoning_steps_verify(args.quick)),
        ("exhaustive_small_operands", test_exhaustive_small_operands),
        ("known_answers", test_known_answers),
        ("solve_roundtrip_and_rejects_other_text", test_solve_roundtrip_and_rejects_other_text),
        ("heldout_deterministic_distinct_excluded", test_heldout_is_deterministic_distinct_and_excluded_from_training),
        ("chat_template_matches_render_prompt", test_chat_template_matches_render_prompt),
        ("chat_template_training_text", test_chat_template_training_text_equals_rendered_conversation),
        ("chat_template_drops_earlier_reasoning", test_chat_template_drops_reasoning_of_earlier_turns),
        ("split_reasoning", test_split_reasoning),
        ("tokenizer_layout_and_tokens", lambda: test_tokenizer_layout_and_tokens(tmp)),
        ("tokenizer_roundtrip_and_lengths", lambda: test_tokenizer_roundtrip_and_lengths(tmp, args.quick)),
        ("tokenizers_library_agrees", lambda: test_tokenizers_library_agrees(tmp)),
        ("python_files_compile", test_python_files_compile),
    ]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print(f"PASS {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
