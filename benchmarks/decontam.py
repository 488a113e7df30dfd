"""Recall and false removals of ``tracemint.curate.decontam`` on a planted set.

Setup (the acceptance test of the curation issue): a synthetic set of 20,000 questions made
of a clean pool (every GSM8K train question, SVAMP, AQuA-RAT test, then lightly edited
copies of train questions until the pool holds 19,800; GSM8K train and test share no
questions) plus 200 planted GSM8K test questions: 100 verbatim and 100 lightly edited
(changed names, one changed number, reordered sentences). The index holds all 1,319 GSM8K
test questions.

Prints recall of the planted items (by kind), the false-removal rate on clean items (with the
worst offenders), the index build time and items/s of the look-ups.

Run: ``python benchmarks/decontam.py [--seed 0] [--n 13] [--near-threshold 0.6]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from tracemint.curate.decontam import BenchmarkIndex, BenchmarkSpec

DATA = Path("/work/shared/data")
TEST = DATA / "gsm8k" / "test.jsonl"
TRAIN = DATA / "gsm8k" / "train.jsonl"
SVAMP = DATA / "svamp" / "SVAMP.json"
AQUA = DATA / "aqua" / "test.json"
TOTAL, PLANTED = 20_000, 200

_NAMES = (
    "Aiden Amara Bianca Boris Carmen Dmitri Elena Farid Greta Hiroshi Ines Jonas Kalani Lars "
    "Mateo Nadia Oskar Priya Quinn Rafael Sana Tobias Ulla Viktor Wanda Ximena Yusuf Zelda"
)
NAMES = _NAMES.split()
# Capitalised words that are not names (sentence starts, days, months, units).
_NOT_NAMES = (
    "A An The If How What When Where Which Who Why He She They It His Her Their Its In On At "
    "After Before Each Every There This That These Those Then For To Of And But So Since While "
    "Mr Mrs Ms Dr Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February "
    "March April May June July August September October November December I We You Our My "
    "Your Both All Some One Two Three Four Five Six Seven Eight Nine Ten Half Together Also "
    "With From By During Over Out Find Calculate Given Assuming Assume Last Next First Second "
    "Third Now As Not No Yes Only Later Today Tomorrow Yesterday"
)
NOT_NAMES = set(_NOT_NAMES.split())
_CAP = re.compile(r"\b[A-Z][a-z]+\b")
_NUM = re.compile(r"\d+(?:\.\d+)?")
_SENT = re.compile(r"(?<=[.!?])\s+")


def change_names(text: str, rng: random.Random) -> str:
    """Every name (a capitalised word that is not a function word, day or month) -> another."""
    found = sorted({w for w in _CAP.findall(text) if w not in NOT_NAMES})
    mapping = dict(zip(found, rng.sample(NAMES, len(found)), strict=False))
    return _CAP.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def change_number(text: str, rng: random.Random) -> str:
    """One number (chosen at random) -> a different one."""
    nums = list(_NUM.finditer(text))
    if not nums:
        return text
    m = rng.choice(nums)
    old = m.group(0)
    new = str(int(float(old)) + rng.randint(1, 9))
    return text[: m.start()] + new + text[m.end() :]


def reorder_sentences(text: str, rng: random.Random) -> str:
    """Shuffle the statement sentences (the final question stays last); two sentences swap."""
    sents = [s for s in _SENT.split(text.strip()) if s]
    if len(sents) == 2:
        sents = sents[::-1]
    elif len(sents) > 2:
        head = sents[:-1]
        for _ in range(5):
            rng.shuffle(head)
            if head != sents[:-1]:
                break
        sents = head + sents[-1:]
    return " ".join(sents)


def light_edit(text: str, rng: random.Random) -> str:
    return reorder_sentences(change_number(change_names(text, rng), rng), rng)


def questions(path: Path, fields: tuple[str, ...] = ("question",)) -> list[str]:
    if path.suffix == ".jsonl" or path.name == "test.json":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        rows = json.loads(path.read_text())
    return [" ".join(str(r[f]).strip() for f in fields) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=13)
    ap.add_argument("--near-threshold", type=float, default=0.6)
    ap.add_argument("--show", type=int, default=5, help="false removals / misses to print")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    test = questions(TEST)
    train = questions(TRAIN)
    clean = train + questions(SVAMP, ("Body", "Question")) + questions(AQUA)
    while len(clean) < TOTAL - PLANTED:
        clean.append(light_edit(rng.choice(train), rng))
    picked = rng.sample(range(len(test)), PLANTED)
    planted = [(test[i], "verbatim", i) for i in picked[: PLANTED // 2]]
    planted += [(light_edit(test[i], rng), "edited", i) for i in picked[PLANTED // 2 :]]
    items = [(q, "clean", -1) for q in clean] + planted
    rng.shuffle(items)

    t0 = time.perf_counter()
    index = BenchmarkIndex.from_files(
        [BenchmarkSpec("gsm8k-test", TEST, "gsm8k")],
        n=args.n,
        near_threshold=args.near_threshold,
    )
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    results = [(q, kind, i, index.match(q)) for q, kind, i in items]
    match_s = time.perf_counter() - t0

    caught = {"verbatim": 0, "edited": 0}
    by_method: dict[str, int] = {}
    misses, false = [], []
    for q, kind, i, m in results:
        if kind == "clean":
            if m is not None:
                false.append((q, m))
        elif m is not None and m.item_id == f"gsm8k-test:{i}":
            caught[kind] += 1
            by_method[m.method] = by_method.get(m.method, 0) + 1
        else:
            misses.append((q, kind, m))
    n_clean = len(items) - PLANTED
    recall = sum(caught.values()) / PLANTED
    print(
        f"items {len(items):,} (clean {n_clean:,}, planted {PLANTED}), n={args.n}, "
        f"near_threshold={args.near_threshold}"
    )
    print(f"index: {len(index):,} GSM8K test questions, built in {build_s:.2f} s")
    print(
        f"recall {recall:.3f}  (verbatim {caught['verbatim']}/{PLANTED // 2}, "
        f"edited {caught['edited']}/{PLANTED // 2}; by method {by_method})"
    )
    print(f"false removals {len(false)} / {n_clean:,} = {len(false) / n_clean:.4%}")
    print(f"throughput {len(items) / match_s:,.0f} items/s ({match_s:.2f} s)")
    for q, kind, m in misses[: args.show]:
        print(f"  MISS [{kind}] {q[:110]!r} -> {m}")
    for q, m in false[: args.show]:
        print(f"  FALSE [{m.method} {m.score}] {q[:90]!r}\n      vs {m.benchmark_text[:90]!r}")


if __name__ == "__main__":
    main()
