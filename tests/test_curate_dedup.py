from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.curate.dedup import (
    Deduplicator,
    exact_key,
    minhash_signatures,
    normalize,
    optimal_bands,
)

DATA = Path(__file__).parent / "data"
GSM8K_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"

PROBLEM = (
    "Maria buys 14 red apples and 9 green pears at the farmers market on Saturday morning. "
    "She gives 5 apples to her neighbour Tom and bakes a pie with 3 pears. "
    "How many pieces of fruit does she have left?"
)


def test_normalize_and_exact_key() -> None:
    assert normalize("  Hello,\tWORLD!!  It costs $1,000.50 ") == "hello world it costs 1000.50"
    assert normalize("ﬁve　apples") == "five apples"  # NFKC: ligature, ideographic space
    assert exact_key("What is 2+3?") == exact_key("what is 2 + 3")
    assert exact_key("What is 2+3?") != exact_key("What is 2+4?")  # numbers are kept


def test_exact_duplicate_after_case_space_punctuation_changes() -> None:
    variant = "  " + PROBLEM.upper().replace(" ", "   ").replace("?", " ?!").replace(".", ";")
    for method in ("exact", "minhash"):
        dd = Deduplicator(method=method)  # type: ignore[arg-type]
        assert dd.add("a", PROBLEM) is None
        assert dd.add("b", variant) == "a"
        assert dd.n_exact == 1 and len(dd) == 1


def test_near_duplicate_one_word_changed() -> None:
    words = PROBLEM.split()
    assert 30 <= len(words) <= 40
    words[len(words) // 2] = "purple"  # one word in the middle changed
    near = " ".join(words)
    dd = Deduplicator(threshold=0.7)
    assert dd.add("orig", PROBLEM) is None
    assert dd.add("near", near) == "orig"
    assert dd.n_near == 1
    # exact-only mode does not see it
    assert list(Deduplicator(method="exact").dedup([("o", PROBLEM), ("n", near)]))[1] == ("n", None)


def _gsm8k_questions(n: int) -> list[str]:
    paths = [GSM8K_TRAIN] if GSM8K_TRAIN.exists() else sorted(DATA.glob("*gsm8k*.jsonl"))
    seen: dict[str, str] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            q = json.loads(line).get("question")  # some slices hold solutions only
            if q:
                seen.setdefault(normalize(q), q)
            if len(seen) >= n:
                return list(seen.values())
    return list(seen.values())


def test_distinct_gsm8k_questions_not_flagged() -> None:
    questions = _gsm8k_questions(2000)
    assert len(questions) >= 500
    dd = Deduplicator(threshold=0.8)
    flagged = [k for k, dup in dd.dedup((f"q{i}", q) for i, q in enumerate(questions)) if dup]
    # distinct (by normalized text) GSM8K questions: no or almost no near-duplicate pairs
    assert len(flagged) <= max(1, len(questions) // 1000), flagged


def test_record_of_what_each_dropped_item_duplicated() -> None:
    other = "A train travels 60 km per hour for 3 hours and then 40 km per hour for 2 hours."
    items = [
        ("p0", PROBLEM),
        ("p1", other),
        ("p2", PROBLEM.lower()),
        ("p3", other + " Answer"),  # one extra word at the end: near duplicate
        ("p4", "Something entirely different about 7 cats sleeping on a warm mat today."),
        ("p5", PROBLEM + "  "),
    ]
    out = dict(Deduplicator(threshold=0.7).dedup(items))
    assert out == {"p0": None, "p1": None, "p2": "p0", "p3": "p1", "p4": None, "p5": "p0"}


def test_batch_equals_streaming_across_chunks() -> None:
    questions = _gsm8k_questions(300)
    items = [(f"q{i}", q) for i, q in enumerate(questions)]
    items += [(f"d{i}", q.upper() + " please") for i, q in enumerate(questions[:50])]
    stream = Deduplicator(threshold=0.7)
    expected = [(k, stream.add(k, t)) for k, t in items]
    assert list(Deduplicator(threshold=0.7, chunk_size=64).dedup(items)) == expected
    assert sum(d is not None for _, d in expected) >= 50


def test_deterministic_across_processes() -> None:
    sig = minhash_signatures([PROBLEM, "short one", ""])
    assert sig.dtype == np.uint32 and sig.shape == (3, 128)
    assert (sig[2] == np.iinfo(np.uint32).max).all()  # empty text
    code = (
        "import sys; from tracemint.curate.dedup import minhash_signatures as m;"
        "print(int(m([sys.argv[1], 'short one', '']).astype('uint64').sum()))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, PROBLEM], capture_output=True, text=True, check=True
    )
    assert int(other.stdout) == int(sig.astype(np.uint64).sum())


def test_very_short_texts_use_unigrams() -> None:
    dd = Deduplicator(threshold=0.5)
    assert dd.add("a", "add 2 and 3") is None
    assert dd.add("b", "add 2 and 3 now") == "a"  # unigram Jaccard 4/5 >= 0.5
    sig = minhash_signatures(["two words"], ngram=3)
    assert (sig < np.iinfo(np.uint32).max).all()  # fewer words than ngram: unigram shingles
    assert dd.add("c", "") is None
    assert dd.add("d", "  ?! ") == "c"  # empty after normalisation: exact duplicate only


def test_bands_match_datasketch_rule() -> None:
    assert optimal_bands(0.8, 128) == (9, 13)
    assert optimal_bands(0.5, 128) == (25, 5)
    with pytest.raises(ValueError):
        Deduplicator(method="fuzzy")  # type: ignore[arg-type]


_word = st.sampled_from(
    [
        "the",
        "a",
        "cat",
        "dog",
        "3",
        "17",
        "runs",
        "sleeps",
        "red",
        "blue",
        "big",
        "small",
        "over",
        "under",
    ]
)


@settings(max_examples=40, deadline=None)
@given(
    words=st.lists(_word, min_size=1, max_size=25),
    upper=st.booleans(),
    sep=st.sampled_from([" ", "  ", " , ", "\t"]),
)
def test_property_formatting_variant_is_exact_duplicate(
    words: list[str], upper: bool, sep: str
) -> None:
    text = " ".join(words)
    variant = sep.join(w.upper() if upper else w for w in words) + "?"
    dd = Deduplicator()
    assert dd.add("orig", text) is None
    assert dd.add("variant", variant) == "orig"
