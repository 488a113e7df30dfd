"""Near-duplicate detection by exact Jaccard similarity of word n-gram shingles.

Synthesized problems are often the seed with two numbers changed; an exact-match set misses
that, and an embedding model is not available offline. Shingle Jaccard catches reworded
copies, is exact (no MinHash false negatives at the sizes a synthesis run produces), and an
inverted index over shingle hashes keeps a lookup to the documents that share a shingle.
"""

from __future__ import annotations

import re
from collections import defaultdict

_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def shingles(text: str, n: int = 3) -> frozenset[int]:
    """Hashes of the word ``n``-grams of ``text`` (lower-cased; numbers are words)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset({hash(" ".join(words))}) if words else frozenset()
    return frozenset(hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class NearDuplicateIndex:
    """Texts added so far; ``nearest`` finds the most similar one above a threshold."""

    def __init__(self, threshold: float = 0.6, n: int = 3) -> None:
        self.threshold, self.n = threshold, n
        self._docs: list[tuple[str, frozenset[int]]] = []
        self._postings: dict[int, list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._docs)

    def nearest(self, text: str) -> tuple[str, float] | None:
        """(key, similarity) of the most similar indexed text at or above the threshold."""
        sh = shingles(text, self.n)
        counts: dict[int, int] = defaultdict(int)
        for h in sh:
            for doc in self._postings.get(h, ()):
                counts[doc] += 1
        best: tuple[str, float] | None = None
        for doc, shared in counts.items():
            key, other = self._docs[doc]
            sim = shared / (len(sh) + len(other) - shared)
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (key, sim)
        return best

    def add(self, key: str, text: str) -> None:
        sh = shingles(text, self.n)
        doc = len(self._docs)
        self._docs.append((key, sh))
        for h in sh:
            self._postings[h].append(doc)
