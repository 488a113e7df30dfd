"""Dedup at scale: N short synthetic problems through ``Deduplicator`` (MinHash LSH).

Generates ``--n`` templated word problems (random names, items, places, numbers), about 5 %
planted exact duplicates (case, whitespace and punctuation changed) and about 10 % planted near
duplicates (the last word dropped or replaced, or one word appended: shingle Jaccard
~0.9) of earlier originals, streams
them through ``Deduplicator.dedup`` and prints wall time, items/s, peak RSS, recall of the
planted duplicates and the false-positive rate (originals flagged as duplicates). Items are
regenerated from their index, so the generator holds nothing in memory.

With ``--compare N`` (default 50,000; 0 to skip) and datasketch installed, the first N items
also go through datasketch's MinHash + MinHashLSH (same shingles, same threshold, candidates
verified by estimated Jaccard) for a speed and agreement comparison. datasketch is not a
dependency of tracemint.

Run: ``python benchmarks/dedup_scale.py [--n 1000000] [--threshold 0.8] [--compare 50000]``
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Iterator

from tracemint.curate.dedup import Deduplicator, _tokens

NAMES = [
    "Tom",
    "Anna",
    "Ravi",
    "Mei",
    "Carlos",
    "Fatima",
    "Olga",
    "Kenji",
    "Liam",
    "Zara",
    "Noah",
    "Priya",
    "Omar",
    "Elena",
    "Jack",
    "Sofia",
    "Yusuf",
    "Grace",
    "Ahmed",
    "Lucia",
    "Ben",
    "Chloe",
    "Diego",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Laila",
    "Marco",
    "Nina",
    "Pablo",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Xavier",
    "Yara",
    "Zeke",
]
ITEMS = [
    "apples",
    "pencils",
    "marbles",
    "stickers",
    "cookies",
    "books",
    "stamps",
    "shells",
    "cards",
    "balloons",
    "candles",
    "oranges",
    "cupcakes",
    "ribbons",
    "buttons",
    "coins",
    "toys",
    "muffins",
    "bottles",
    "flowers",
]
PLACES = [
    "market",
    "school",
    "library",
    "park",
    "bakery",
    "store",
    "fair",
    "garden",
    "museum",
    "beach",
    "zoo",
    "farm",
    "station",
    "kitchen",
    "office",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TEMPLATES = (
    "{n1} has {a} {it} and buys {b} more at the {pl} on {d}. {n1} then gives {c} {it} to "
    "{n2}. How many {it} does {n1} have left?",
    "At the {pl}, {n1} sells {it} for ${a} each. On {d} {n1} sold {b} of them and {n2} bought "
    "{c} more. How much money did {n1} make in total?",
    "{n1} reads {a} pages of a book every day. After {b} days {n2} lends {n1} another book of "
    "{c} pages. How many pages has {n1} read by {d}?",
    "A box at the {pl} holds {a} {it}. {n1} fills {b} boxes and {n2} fills {c} boxes on {d}. "
    "How many {it} are packed altogether?",
    "{n1} is {a} years old and {n2} is {b} years older. In {c} years, what will be the sum of "
    "the ages of {n1} and {n2}?",
    "{n1} walks {a} km to the {pl} and {b} km back home. {n2} walks {c} km less in total. How "
    "far does {n2} walk on {d}?",
    "There are {a} {it} in the {pl}. {n1} takes away {b} and {n2} adds {c}. How many {it} are "
    "in the {pl} at the end of {d}?",
    "{n1} saves ${a} each week for {b} weeks to buy {it} at the {pl}. Each costs ${c}. How many "
    "can {n1} buy, and how much is left over for {n2}?",
    "A train leaves the {pl} at {a} km per hour. {n1} rides it for {b} hours and {n2} rides for "
    "{c} hours. How much farther does {n1} travel than {n2}?",
    "{n1} bakes {a} trays of {it} with {b} on each tray. {n2} eats {c} of them on {d}. How many "
    "{it} remain for the {pl}?",
    "The {pl} has {a} rows of chairs with {b} chairs in each row. On {d}, {c} chairs are broken. "
    "How many chairs can {n1} and {n2} still use?",
    "{n1} and {n2} share {a} {it} in the ratio {b} to {c}. How many {it} does {n1} get, and "
    "how many more is that than {n2} gets on {d}?",
)
EXTRA = ("please", "quickly", "today", "exactly", "carefully")
EXACT_RATE, NEAR_RATE = 0.05, 0.10


def original(i: int) -> str:
    rng = random.Random(i * 2654435761 + 17)
    n1, n2 = rng.sample(NAMES, 2)
    return rng.choice(TEMPLATES).format(
        n1=n1,
        n2=n2,
        it=rng.choice(ITEMS),
        pl=rng.choice(PLACES),
        d=rng.choice(DAYS),
        a=rng.randint(2, 999),
        b=rng.randint(2, 999),
        c=rng.randint(2, 999),
    )


def exact_copy(text: str, rng: random.Random) -> str:
    text = text.upper() if rng.random() < 0.5 else text.lower()
    text = text.replace(" ", "  ") if rng.random() < 0.5 else " " + text + " "
    return text.replace("?", " ?!").replace(",", " ,")


def near_copy(text: str, rng: random.Random) -> str:
    words = text.split()
    kind = rng.randrange(3)
    if kind == 0:  # append a word
        words.append(rng.choice(EXTRA))
    elif kind == 1:  # drop the last word
        del words[-1]
    else:  # replace the last word
        words[-1] = rng.choice(EXTRA)
    return " ".join(words)


def items(n: int) -> Iterator[tuple[str, str, str | None]]:
    """``(key, text, planted_duplicate_of)``; originals are keyed by their seed index."""
    rng = random.Random(12345)
    originals: list[int] = []  # indices only (8 bytes each), texts are regenerated
    for i in range(n):
        u = rng.random()
        if originals and u < EXACT_RATE:
            j = originals[rng.randrange(len(originals))]
            yield f"x{i}", exact_copy(original(j), rng), f"o{j}"
        elif originals and u < EXACT_RATE + NEAR_RATE:
            j = originals[rng.randrange(len(originals))]
            yield f"n{i}", near_copy(original(j), rng), f"o{j}"
        else:
            originals.append(i)
            yield f"o{i}", original(i), None


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024


def run_ours(n: int, threshold: float) -> None:
    truth: dict[str, str | None] = {}

    def stream() -> Iterator[tuple[str, str]]:
        for key, text, dup_of in items(n):
            truth[key] = dup_of
            yield key, text

    dd = Deduplicator(threshold=threshold)
    planted = found = right_target = originals = false_pos = 0
    start = time.perf_counter()
    for key, dup_of in dd.dedup(stream()):
        want = truth.pop(key)
        if want is None:
            originals += 1
            false_pos += dup_of is not None
        else:
            planted += 1
            found += dup_of is not None
            right_target += dup_of == want
    wall = time.perf_counter() - start
    print(f"n={n:,} threshold={threshold} bands x rows={dd.bands}x{dd.rows} num_perm={dd.num_perm}")
    print(f"wall {wall:.1f} s, {n / wall:,.0f} items/s, peak RSS {peak_rss_mb():,.0f} MB")
    print(f"kept {len(dd):,}; dropped exact {dd.n_exact:,}, near {dd.n_near:,}")
    print(
        f"recall of planted duplicates {found / max(planted, 1):.4f} ({found:,}/{planted:,}; "
        f"pointing at the planted original {right_target / max(planted, 1):.4f})"
    )
    print(
        f"false-positive rate {false_pos / max(originals, 1):.6f} "
        f"({false_pos:,} of {originals:,} originals flagged)"
    )


def compare_datasketch(n: int, threshold: float) -> None:
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        print("datasketch not installed: comparison skipped")
        return
    rows = list(items(n))
    ours = Deduplicator(threshold=threshold)
    start = time.perf_counter()
    ours_out = [d for _, d in ours.dedup((k, t) for k, t, _ in rows)]
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    kept: dict[str, MinHash] = {}
    exact: dict[str, str] = {}
    ds_out: list[str | None] = []
    for key, text, _ in rows:
        toks = _tokens(text)
        norm = " ".join(toks)
        if norm in exact:
            ds_out.append(exact[norm])
            continue
        grams = (
            [" ".join(toks[i : i + 3]) for i in range(len(toks) - 2)] if len(toks) >= 3 else toks
        )
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([g.encode() for g in grams])
        best, best_j = None, -1.0
        for cand in lsh.query(m):
            j = m.jaccard(kept[cand])
            if j > best_j:
                best, best_j = cand, j
        if best is not None and best_j >= threshold:
            ds_out.append(best)
            continue
        exact[norm] = key
        kept[key] = m
        lsh.insert(key, m)
        ds_out.append(None)
    t_ds = time.perf_counter() - start
    same_decision = sum((a is None) == (b is None) for a, b in zip(ours_out, ds_out, strict=True))
    truth = [want is not None for _, _, want in rows]
    rec_ours = sum(t and a is not None for t, a in zip(truth, ours_out, strict=True)) / max(
        sum(truth), 1
    )
    rec_ds = sum(t and b is not None for t, b in zip(truth, ds_out, strict=True)) / max(
        sum(truth), 1
    )
    print(f"--- comparison on {n:,} items (exact + near) ---")
    print(f"tracemint  {t_ours:7.2f} s  {n / t_ours:9,.0f} items/s  recall {rec_ours:.4f}")
    print(f"datasketch {t_ds:7.2f} s  {n / t_ds:9,.0f} items/s  recall {rec_ds:.4f}")
    print(f"same keep/drop decision on {same_decision / n:.4%} of items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--compare", type=int, default=50_000)
    args = parser.parse_args()
    run_ours(args.n, args.threshold)  # first, so its peak RSS is its own
    if args.compare:
        compare_datasketch(args.compare, args.threshold)


if __name__ == "__main__":
    main()
