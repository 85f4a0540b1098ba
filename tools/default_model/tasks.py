"""Synthetic reasoning problems with checkable answers: the default model's whole curriculum.

Standard library only, so it runs anywhere (here, on the GPU machine, in CI).

Tasks
  add    "What is A + B?"  A, B in 0..9999. Column addition from the units digit with carries.
  sub    "What is A - B?"  A, B in 0..9999. Digit counts and a left-to-right comparison decide whether to swap;
         column subtraction with borrows; leading zeros dropped; negated when swapped.
  count  "How many r's are in strawberry?"  The word spelled letter by letter with a running count.

The answer (the assistant's content after </think>) is the bare number, e.g. "5216" or "-183".

Every reasoning step copies its operands before it computes (e.g. "tens: 2+8+1=11"), and each line carries the
digits written so far ("So far: 216"), so each new token depends on a few nearby ones: that is what a small
transformer learns reliably. Formats never vary, so the model learns one algorithm, not many phrasings.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

MAX_OPERAND = 9999
PLACES = ("units", "tens", "hundreds", "thousands")
TASKS = ("add", "sub", "count")
# Share of each task in training. Arithmetic is what the issue requires; counting is the cheap extra.
TRAIN_WEIGHTS = {"add": 0.42, "sub": 0.42, "count": 0.16}
HELDOUT_SEED = 20240917  # the held-out set is fixed forever; training never sees its (task, operands) keys
HELDOUT_RESERVED = 1000  # held-out problems per task that training excludes; evaluation uses a prefix

# Lowercase words for the counting task (3..12 letters). Spelling them teaches the model the letters of the BPE
# pieces that make them up; "strawberry" is the classic question.
WORDS = tuple(dict.fromkeys("""
strawberry banana apple orange grape lemon cherry peach melon mango papaya kiwi coconut apricot raspberry
blueberry pineapple tomato potato carrot onion garlic pepper cabbage lettuce spinach broccoli pumpkin
bread butter cheese coffee tea water juice sugar honey cookie pizza pasta rice noodle soup salad sandwich
letter number answer question reason system model server token memory engine kernel thread process
computer keyboard monitor window button screen mouse printer network router socket packet browser
mississippi assassin committee bookkeeper balloon coffee address success possess necessary occasion
tennessee parallel accommodate embarrass millennium questionnaire dilemma recommend
elephant giraffe kangaroo dolphin penguin tiger lion zebra monkey rabbit turtle squirrel hamster
butterfly spider mosquito beetle eagle falcon parrot pigeon sparrow owl swan goose duck chicken
river mountain valley forest desert island ocean canyon glacier volcano meadow prairie
summer winter autumn spring january february march april june july august september october november
december monday tuesday wednesday thursday friday saturday sunday morning evening midnight
school teacher student library pencil notebook eraser scissors marker paper chapter lesson
mother father sister brother cousin uncle aunt grandma grandpa family friend neighbor
happy little yellow purple silver golden green bright quiet gentle simple strong
bicycle airplane rocket subway train engine wheel bridge tunnel harbor station ticket
guitar piano violin trumpet drum flute orchestra concert melody rhythm harmony
doctor nurse hospital medicine pillow blanket mirror kitchen garden garage ladder hammer
football baseball hockey tennis soccer swimming running jumping marathon referee
galaxy planet comet meteor asteroid nebula universe gravity energy photon neutron electron
vanilla chocolate caramel cinnamon pepperoni mozzarella spaghetti lasagna burrito tortilla
umbrella raincoat sweater jacket pajamas slipper sneaker zipper pocket collar
puzzle riddle mystery adventure journey treasure pirate castle dragon wizard knight
calendar holiday birthday wedding festival parade carnival lantern candle balloon
alphabet grammar sentence paragraph syllable vowel consonant spelling dictionary
quick brown fox jumps over lazy dog zigzag jazz buzz fuzzy quiz pizzazz
""".split()))

_QUESTION_ARITH = re.compile(r"^What is (\d{1,4}) ([+-]) (\d{1,4})\?$")
_QUESTION_COUNT = re.compile(r"^How many ([a-z])'s are in ([a-z]+)\?$")


@dataclass(frozen=True)
class Example:
    task: str        # "add" | "sub" | "count"
    question: str    # the user's message
    reasoning: str   # what goes between <think>\n and \n</think>
    answer: str      # the content: the bare number
    key: tuple       # identity of the problem, for keeping held-out problems out of training


def _digits_word(n: int) -> str:
    return "1 digit" if n == 1 else f"{n} digits"


def _digit(x: int, place: int) -> int:
    return (x // 10 ** place) % 10


def addition(a: int, b: int) -> Example:
    _check_operands(a, b)
    sa, sb = str(a), str(b)
    columns = max(len(sa), len(sb))
    lines = [f"{sa} has {_digits_word(len(sa))}, {sb} has {_digits_word(len(sb))}. Add column by column from the right."]
    carry, so_far = 0, ""
    for place in range(columns):
        da, db = _digit(a, place), _digit(b, place)
        if place == 0:
            total = da + db
            step = f"{da}+{db}={total}"
        else:
            total = da + db + carry
            step = f"{da}+{db}+{carry}={total}"
        carry, written = total // 10, total % 10
        so_far = f"{written}{so_far}"
        lines.append(f"{PLACES[place]}: {step}, write {written}, carry {carry}. So far: {so_far}")
    result = f"{carry}{so_far}" if carry else so_far
    lines.append(f"The last carry is {carry}, so {sa} + {sb} = {result}.")
    assert int(result) == a + b
    return Example("add", f"What is {sa} + {sb}?", "\n".join(lines), result, ("add", a, b))


def _compare_line(a: int, b: int) -> str:
    """States a's and b's digit counts and, when they are equal, compares digit by digit from the left."""
    sa, sb = str(a), str(b)
    head = f"{sa} has {_digits_word(len(sa))}, {sb} has {_digits_word(len(sb))}"
    rel = "<" if a < b else (">" if a > b else "=")
    if len(sa) != len(sb):
        return f"{head}, so {sa} {rel} {sb}."
    steps = []
    for x, y in zip(sa, sb):
        steps.append(f"{x}{'<' if x < y else ('>' if x > y else '=')}{y}")
        if x != y:
            break
    return f"{head}. From the left: {', '.join(steps)}, so {sa} {rel} {sb}."


def subtraction(a: int, b: int) -> Example:
    _check_operands(a, b)
    sa, sb = str(a), str(b)
    lines = [_compare_line(a, b)]
    swapped = a < b
    top, bottom = (b, a) if swapped else (a, b)
    st, sbm = str(top), str(bottom)
    if swapped:
        lines.append(f"{sa} is smaller, so compute {st} - {sbm} column by column, then negate.")
    else:
        lines.append(f"Compute {st} - {sbm} column by column from the right.")
    borrow, so_far = 0, ""
    for place in range(len(st)):
        dt, db = _digit(top, place), _digit(bottom, place)
        if place == 0:
            diff = dt - db
            step = f"{dt}-{db}={diff}"
        else:
            diff = dt - db - borrow
            step = f"{dt}-{db}-{borrow}={diff}"
        if diff < 0:
            borrow, written = 1, diff + 10
            step += f", +10={written}"
        else:
            borrow, written = 0, diff
        so_far = f"{written}{so_far}"
        lines.append(f"{PLACES[place]}: {step}, borrow {borrow}. So far: {so_far}")
    assert borrow == 0
    magnitude = str(int(so_far))
    result = f"-{magnitude}" if swapped else magnitude
    lines.append(f"Without leading zeros: {magnitude}. So {sa} - {sb} = {result}.")
    assert int(result) == a - b
    return Example("sub", f"What is {sa} - {sb}?", "\n".join(lines), result, ("sub", a, b))


def letter_count(word: str, letter: str) -> Example:
    if not (re.fullmatch(r"[a-z]+", word) and re.fullmatch(r"[a-z]", letter)):
        raise ValueError(f"counting needs a lowercase word and letter, got {word!r}, {letter!r}")
    count, parts = 0, []
    for ch in word:
        count += ch == letter
        parts.append(f"{ch} {count}")
    reasoning = f"Spell {word} and count {letter}: {', '.join(parts)}. So {word} has {count} {letter}'s."
    assert count == word.count(letter)
    return Example("count", f"How many {letter}'s are in {word}?", reasoning, str(count), ("count", word, letter))


def _check_operands(a: int, b: int) -> None:
    if not (0 <= a <= MAX_OPERAND and 0 <= b <= MAX_OPERAND):
        raise ValueError(f"operands must be in 0..{MAX_OPERAND}, got {a}, {b}")


def sample_operand(rng: random.Random) -> int:
    """Half uniform over 0..9999 (mostly 4 digits), half with a uniform digit count, so short numbers are common."""
    if rng.random() < 0.5:
        return rng.randint(0, MAX_OPERAND)
    digits = rng.randint(1, 4)
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


def sample_example(rng: random.Random, task: str) -> Example:
    if task == "add":
        return addition(sample_operand(rng), sample_operand(rng))
    if task == "sub":
        return subtraction(sample_operand(rng), sample_operand(rng))
    if task == "count":
        word = rng.choice(WORDS)
        if rng.random() < 0.75:
            letter = rng.choice(word)
        else:
            letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
        return letter_count(word, letter)
    raise ValueError(f"unknown task {task!r}")


def heldout_set(n_per_task: int, tasks: tuple[str, ...] = TASKS) -> list[Example]:
    """The fixed evaluation problems: n distinct problems per task, from seeds training never uses. Each task has its
    own stream, so heldout_set(n) is a prefix of heldout_set(m) for n <= m, task by task."""
    if n_per_task > HELDOUT_RESERVED:
        raise ValueError(f"at most {HELDOUT_RESERVED} held-out problems per task are kept out of training")
    out: list[Example] = []
    for task in tasks:
        rng = random.Random(f"{HELDOUT_SEED}-{task}")
        seen: set[tuple] = set()
        while len(seen) < n_per_task:
            ex = sample_example(rng, task)
            if ex.key not in seen:
                seen.add(ex.key)
                out.append(ex)
    return out


def heldout_keys() -> frozenset:
    """Keys of every problem that may ever be evaluated: training excludes all of them."""
    return frozenset(ex.key for ex in heldout_set(HELDOUT_RESERVED))


def training_examples(seed: int, count: int, exclude: frozenset) -> list[Example]:
    """count training problems drawn with TRAIN_WEIGHTS, none of whose keys is in exclude."""
    rng = random.Random(seed)
    tasks = list(TRAIN_WEIGHTS)
    weights = [TRAIN_WEIGHTS[t] for t in tasks]
    out: list[Example] = []
    while len(out) < count:
        ex = sample_example(rng, rng.choices(tasks, weights)[0])
        if ex.key not in exclude:
            out.append(ex)
    return out


def solve(question: str) -> Example:
    """The reference example for a question in one of our formats (raises ValueError for anything else)."""
    q = question.strip()
    m = _QUESTION_ARITH.match(q)
    if m:
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        return addition(a, b) if op == "+" else subtraction(a, b)
    m = _QUESTION_COUNT.match(q)
    if m:
        return letter_count(m.group(2), m.group(1))
    raise ValueError(f"not a question this model was trained on: {question!r}")


def check_answer(expected: str, content: str) -> bool:
    """True when the model's content (the text after </think>) is exactly the expected number, spaces aside."""
    return content.strip() == expected.strip()
