"""Benchmark decontamination: drop problems (or rationales) that copy a benchmark item.

Two detectors, both over normalised text (lower-cased, punctuation stripped, thousands
separators removed, numbers kept as words):

* **n-gram overlap** (13-gram by default, as in GPT-3 and open-r1): the word n-grams of every
  benchmark item go into a dict of 64-bit hashes -> items; a text sharing one n-gram with an
  item matches it. N-grams found in many benchmark items (``max_ngram_items``) are generic
  phrasing, not a copy, and are left out of the index.
* **near-match** for texts an n-gram cannot catch: short questions (a 13-gram barely fits)
  and lightly edited copies (a changed name, one changed number, reordered sentences break
  most n-grams). The score is the Jaccard similarity of the two texts' word *sets*, which
  ignores order and loses only the changed words; candidates come from an inverted index on
  the benchmark's rarer words, so a lookup never scans the whole benchmark.

``BenchmarkIndex.match(text)`` returns the best ``Match`` or None; ``decontaminate`` splits
record dicts into kept and removed, checking any fields (questions, rationales).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tracemint.errors import SourceError

__all__ = [
    "BenchmarkIndex",
    "BenchmarkSpec",
    "Match",
    "decontaminate",
    "normalize",
    "parse_spec",
]

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_PRESETS = ("gsm8k", "aqua", "svamp")


def normalize(text: str) -> list[str]:
    """Words of ``text``: lower-cased letters runs and numbers (``1,000`` -> ``1000``)."""
    return _WORD.findall(_THOUSANDS.sub("", text.lower().replace("\u2019", "'")))


@dataclass(frozen=True)
class Match:
    """The benchmark item a text was found to copy, and how."""

    benchmark: str
    item_id: str
    benchmark_text: str
    method: str  # "13-gram" (f"{n}-gram") or "near-match"
    score: float  # n-gram: share of the item's indexed n-grams found; near-match: Jaccard

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark file: a name for reports, the path, and how to read the question."""

    name: str | None
    path: Path
    preset: str | None = None  # gsm8k, aqua, svamp
    field: str | None = None  # question field; None: the preset's or auto-detected


def parse_spec(text: str, field: str | None = None) -> BenchmarkSpec:
    """``path``, ``name=path`` or ``preset:path`` (``gsm8k:data/test.jsonl``); a name and a
    preset combine as ``name=preset:path``."""
    spec = text
    name: str | None = None
    preset: str | None = None
    head, sep, rest = text.partition("=")
    if sep and head and "/" not in head and "\\" not in head:
        name, text = head, rest
    head, sep, rest = text.partition(":")
    if sep and head.lower() in _PRESETS:
        preset, text = head.lower(), rest
    if not text:
        raise SourceError("empty benchmark path; use PATH, NAME=PATH or PRESET:PATH", path=spec)
    return BenchmarkSpec(name, Path(text), preset, field)


def _guess_preset(path: Path) -> str | None:
    low = str(path).lower()
    return next((p for p in _PRESETS if p in low), None)


def load_benchmark(spec: BenchmarkSpec) -> tuple[str, list[tuple[str, str]]]:
    """(name, [(item id, question text)]) read with ``FileSource`` (presets, auto-detection)."""
    from tracemint.sources.base import create_source

    preset = spec.preset
    if preset is None and spec.field is None:
        preset = _guess_preset(spec.path)
    # only the questions are compared: a benchmark file needs no references
    options: dict[str, Any] = {"path": spec.path, "reference": "optional"}
    if preset is not None:
        options["preset"] = preset
    if spec.field is not None:
        options["question_field"] = spec.field
    if spec.name is not None:
        options["name"] = spec.name
    source = create_source("file", options)
    items = [(str(r["problem_id"]), str(r["question"])) for r in source]
    stem = spec.path.stem
    name = spec.name or (stem if preset is None or preset in stem.lower() else f"{preset}-{stem}")
    return name, items


class BenchmarkIndex:
    """Benchmark items indexed for n-gram overlap and near-match look-ups.

    ``n``: n-gram length (13). ``max_ngram_items``: an n-gram found in more benchmark items
    than this is generic phrasing and not indexed. ``near_threshold``: minimum word-set
    Jaccard for a near-match (0 turns near-matching off). ``near_max_words``: only texts and
    benchmark items at most this long are near-matched (whole-text similarity means nothing
    for a long rationale). ``rare_df``: words in more than this share of benchmark items are
    not used to find near-match candidates.
    """

    def __init__(
        self,
        n: int = 13,
        *,
        max_ngram_items: int = 3,
        near_threshold: float = 0.6,
        near_max_words: int = 200,
        rare_df: float = 0.05,
        candidates: int = 8,
    ) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.max_ngram_items = max_ngram_items
        self.near_threshold = near_threshold
        self.near_max_words = near_max_words
        self.rare_df = rare_df
        self.candidates = candidates
        self.items: list[tuple[str, str, str]] = []  # (benchmark, item id, text)
        self._ngram_counts: list[int] = []  # indexed n-grams per item
        self._sets: list[frozenset[str]] = []
        self._ngrams: dict[int, list[int]] = {}
        self._postings: dict[str, list[int]] = {}
        self._built = False
        self._pending: dict[int, list[int]] = defaultdict(list)

    @classmethod
    def from_files(
        cls, specs: Iterable[BenchmarkSpec | str | Path], **options: Any
    ) -> BenchmarkIndex:
        """An index over every item of the given benchmark files."""
        index = cls(**options)
        for spec in specs:
            if not isinstance(spec, BenchmarkSpec):
                spec = parse_spec(str(spec))
            name, items = load_benchmark(spec)
            index.add_many(name, items)
        return index.build()

    def __len__(self) -> int:
        return len(self.items)

    def ngrams(self, words: Sequence[str]) -> set[int]:
        """64-bit hashes of the word n-grams of ``words``."""
        n = self.n
        return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}

    def add(self, benchmark: str, item_id: str, text: str) -> None:
        """Index one benchmark item; call ``build()`` after the last one."""
        words = normalize(text)
        k = len(self.items)
        self.items.append((benchmark, item_id, text))
        grams = self.ngrams(words)
        for h in grams:
            self._pending[h].append(k)
        self._ngram_counts.append(len(grams))
        self._sets.append(frozenset(words) if len(words) <= self.near_max_words else frozenset())
        self._built = False

    def add_many(self, benchmark: str, items: Iterable[tuple[str, str]]) -> None:
        for item_id, text in items:
            self.add(benchmark, item_id, text)

    def build(self) -> BenchmarkIndex:
        """Drop generic n-grams and build the rare-word postings; returns self."""
        ngrams: dict[int, list[int]] = {}
        counts = [0] * len(self.items)
        for h, ks in self._pending.items():
            uniq = sorted(set(ks))
            if len(uniq) <= self.max_ngram_items:
                ngrams[h] = uniq
                for k in uniq:
                    counts[k] += 1
        self._ngrams, self._ngram_counts = ngrams, counts
        df = Counter(w for s in self._sets for w in s)
        cap = max(2, int(self.rare_df * len(self.items)))
        postings: dict[str, list[int]] = defaultdict(list)
        for k, s in enumerate(self._sets):
            for w in s:
                if df[w] <= cap:
                    postings[w].append(k)
        self._postings = dict(postings)
        self._built = True
        return self

    def match(self, text: str) -> Match | None:
        """The benchmark item ``text`` copies, if any: an n-gram hit first, else a near-match."""
        if not self._built:
            self.build()
        words = normalize(text)
        hits: Counter[int] = Counter()
        for h in self.ngrams(words):
            for k in self._ngrams.get(h, ()):
                hits[k] += 1
        if hits:
            k, c = max(hits.items(), key=lambda kv: kv[1] / max(1, self._ngram_counts[kv[0]]))
            return self._match(k, f"{self.n}-gram", c / max(1, self._ngram_counts[k]))
        if self.near_threshold <= 0 or not words or len(words) > self.near_max_words:
            return None
        query = frozenset(words)
        shared: Counter[int] = Counter()
        for w in query:
            for k in self._postings.get(w, ()):
                shared[k] += 1
        best, best_score = -1, 0.0
        for k, _ in shared.most_common(self.candidates):
            other = self._sets[k]
            inter = len(query & other)
            score = inter / (len(query) + len(other) - inter)
            if score > best_score:
                best, best_score = k, score
        if best >= 0 and best_score >= self.near_threshold:
            return self._match(best, "near-match", best_score)
        return None

    def _match(self, k: int, method: str, score: float) -> Match:
        benchmark, item_id, text = self.items[k]
        return Match(benchmark, item_id, text, method, round(score, 4))


def decontaminate(
    records: Iterable[dict[str, Any]],
    index: BenchmarkIndex,
    fields: Sequence[str] = ("question",),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split ``records`` into (kept, removed). Each of ``fields`` that a record has (as a
    string) is checked; a removed record is returned as a copy with ``contaminated_by``
    (the match's fields plus ``field``: which of the record's fields matched)."""
    kept: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    for record in records:
        found: dict[str, Any] | None = None
        for name in fields:
            value = record.get(name)
            if isinstance(value, str):
                m = index.match(value)
                if m is not None:
                    found = {**m.to_dict(), "field": name}
                    break
        if found is None:
            kept.append(record)
        else:
            removed.append({**record, "contaminated_by": found})
    return kept, removed
