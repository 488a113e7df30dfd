"""Deduplication of problems and rationales: exact (normalized hash) and near (MinHash LSH).

Exact duplicates are found by a hash of :func:`normalize` (NFKC, case-folded, punctuation and
whitespace dropped, numbers kept). Near duplicates are found by an own MinHash + LSH index,
vectorised with numpy (no extra dependency):

* a text's words (the tokens of :func:`normalize`) are hashed once each (blake2b, cached);
  its shingles are the word ``ngram``-grams (unigrams when the text has fewer words), each
  a 64-bit mix of its word hashes computed for a whole batch of texts at once;
* the MinHash signature is ``num_perm`` minima of multiply-shift hashes
  ``(a * shingle + b) mod 2**64 >> 32`` (fixed seed, so runs are deterministic), reduced per
  text with ``np.minimum.reduceat``;
* the signature is cut into ``bands`` bands of ``rows`` rows, chosen from the threshold the way
  datasketch does (minimise the false-positive plus false-negative area of the S-curve); a
  band's hash points at the first kept item that had it;
* an LSH candidate is accepted only when the Jaccard similarity estimated from the two
  signatures (the share of equal minima) is ``>= threshold``.

**Which copy is kept.** The first one seen: the caller orders items best-first (e.g. by
verifier pass rate, then length); every later duplicate is dropped and records the key of
the kept item it duplicates (exact match first, else the most similar near match).

**Memory.** Per kept item: one 16-byte exact digest in a dict, ``bands`` dict entries
(band hash -> item index) and the signature as ``num_perm`` uint32 in fixed-size numpy
blocks. At the defaults (128 permutations, 9 bands at threshold 0.8) that is about
512 B of signature + ~9 x 75 B of band entries + ~110 B of exact entry + the key string,
i.e. ~1.3 KB per kept item. Measured (``benchmarks/dedup_scale.py``, 1,000,000 short
problems, 849,904 kept): peak RSS 1.5 GB for the whole process, 110 s on one core.
Dropped items store nothing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Literal

import numpy as np

__all__ = ["Deduplicator", "exact_key", "minhash_signatures", "normalize", "optimal_bands"]

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SEED = 0x7472_6163_656D_696E  # "tracemin"
_MASK64 = (1 << 64) - 1
_BLOCK = 65_536  # signature rows per storage block
_MAX_SHINGLES = 1 << 16  # shingle rows per vectorised MinHash pass (x num_perm x 8 bytes)
_WORD_CACHE_MAX = 2_000_000

Method = Literal["minhash", "exact"]


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _TOKEN.findall(_THOUSANDS.sub("", text))


def normalize(text: str) -> str:
    """Unicode NFKC, case-folded; punctuation and runs of whitespace become one space.

    Numbers are kept (``1,000`` -> ``1000``; a decimal point inside a number stays), so two
    problems that differ only in a number are *not* exact duplicates.
    """
    return " ".join(_tokens(text))


def exact_key(text: str) -> str:
    """Hex blake2b-128 of :func:`normalize`: equal keys mean exact duplicates."""
    return hashlib.blake2b(normalize(text).encode(), digest_size=16).hexdigest()


def _fp_fn_area(threshold: float, b: int, r: int) -> tuple[float, float]:
    xs = np.linspace(0.0, 1.0, 2001)
    p = 1.0 - (1.0 - xs**r) ** b  # probability of becoming a candidate at Jaccard x
    lo, hi = xs <= threshold, xs >= threshold
    fp = float(np.trapezoid(p[lo], xs[lo])) if lo.sum() > 1 else 0.0
    fn = float(np.trapezoid(1.0 - p[hi], xs[hi])) if hi.sum() > 1 else 0.0
    return fp, fn


@lru_cache(maxsize=64)
def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the weighted
    false-positive + false-negative area, as datasketch's ``_optimal_param``."""
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp, fn = _fp_fn_area(threshold, b, r)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (wrapping arithmetic)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


class _Hasher:
    """Shingles and MinHash signatures for batches of token lists (fixed seed)."""

    def __init__(self, num_perm: int, ngram: int) -> None:
        rng = np.random.default_rng(_SEED)
        self.num_perm, self.ngram = num_perm, ngram
        self.a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(
            1
        )
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self.pos = rng.integers(0, 2**63, size=ngram, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._words: dict[str, int] = {}

    def _word_ids(self, toks: list[str]) -> list[int]:
        cache = self._words
        out = []
        for w in toks:
            h = cache.get(w)
            if h is None:
                if len(cache) >= _WORD_CACHE_MAX:
                    cache.clear()
                h = cache[w] = _word_hash(w)
            out.append(h)
        return out

    def shingles(self, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes (uint64, concatenated) and the shingle count of each doc."""
        n = self.ngram
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        flat: list[int] = []
        for d in docs:
            flat.extend(self._word_ids(d))
        words = np.array(flat, dtype=np.uint64)
        words = np.concatenate([words, np.zeros(n, dtype=np.uint64)])
        starts = np.zeros(len(docs), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        is_ngram = lengths >= n
        counts = np.where(is_ngram, lengths - n + 1, lengths)
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.uint64), counts
        cstarts = np.cumsum(counts) - counts
        idx = np.repeat(starts, counts) + (np.arange(total) - np.repeat(cstarts, counts))
        gram = np.repeat(is_ngram, counts)
        sh = words[idx] * self.pos[0]
        for k in range(1, n):
            sh += np.where(gram, words[idx + k] * self.pos[k], np.uint64(0))
        return _mix64(sh), counts

    def signatures(self, docs: list[list[str]]) -> np.ndarray:
        """``(len(docs), num_perm)`` uint32 MinHash signatures; an empty doc gets all-max."""
        sig = np.full((len(docs), self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        if not docs:
            return sig
        sh, counts = self.shingles(docs)
        ends = np.cumsum(counts)
        begins = ends - counts
        nonempty = np.flatnonzero(counts > 0)
        i = 0
        while i < len(nonempty):
            # the largest run of docs whose shingles fit one pass (at least one doc)
            d0 = nonempty[i]
            limit = begins[d0] + _MAX_SHINGLES
            j = max(i + 1, int(np.searchsorted(ends[nonempty], limit, side="right")))
            docs_ix = nonempty[i:j]
            lo, hi = int(begins[docs_ix[0]]), int(ends[docs_ix[-1]])
            hv = sh[lo:hi, None] * self.a[None, :]
            hv += self.b
            hv >>= np.uint64(32)
            mins = np.minimum.reduceat(hv, begins[docs_ix] - lo, axis=0)
            sig[docs_ix] = mins.astype(np.uint32)
            i = j
        return sig


def minhash_signatures(texts: list[str], num_perm: int = 128, ngram: int = 3) -> np.ndarray:
    """MinHash signatures of ``texts`` (uint32, one row each), as the Deduplicator makes them."""
    return _Hasher(num_perm, ngram).signatures([_tokens(t) for t in texts])


class Deduplicator:
    """Streaming deduplication; the first copy seen is kept (order items best-first).

    ``add(key, text)`` returns the key of the earlier kept item that ``text`` duplicates
    (exact match of :func:`normalize` first, else a MinHash-LSH near match with estimated
    Jaccard ``>= threshold``), or ``None`` after keeping it. ``dedup(items)`` does the same
    for an iterable of ``(key, text)`` in vectorised chunks and yields ``(key, duplicate_of)``
    in input order. ``method="exact"`` skips the near-duplicate search.
    """

    def __init__(
        self,
        threshold: float = 0.8,
        method: Method = "minhash",
        num_perm: int = 128,
        ngram: int = 3,
        chunk_size: int = 10_000,
    ) -> None:
        if method not in ("minhash", "exact"):
            raise ValueError(f"method must be 'minhash' or 'exact', not {method!r}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}")
        if num_perm < 2 or ngram < 1:
            raise ValueError("num_perm must be >= 2 and ngram >= 1")
        self.threshold, self.method = threshold, method
        self.num_perm, self.ngram, self.chunk_size = num_perm, ngram, chunk_size
        self.bands, self.rows = optimal_bands(threshold, num_perm)
        self._hasher = _Hasher(num_perm, ngram)
        rng = np.random.default_rng(_SEED + 1)
        self._band_mult = rng.integers(0, 2**63, size=self.rows, dtype=np.uint64) * np.uint64(
            2
        ) + np.uint64(1)
        self._band_salt = rng.integers(0, 2**63, size=self.bands, dtype=np.uint64)
        self._min_equal = int(np.ceil(threshold * num_perm - 1e-9))
        self._keys: list[str] = []  # kept item index -> key
        self._exact: dict[bytes, int] = {}
        self._buckets: dict[int, int] = {}  # salted band hash -> first kept item index
        self._blocks: list[np.ndarray] = []
        self.n_seen = self.n_exact = self.n_near = 0

    def __len__(self) -> int:
        """Number of kept items."""
        return len(self._keys)

    def add(self, key: str, text: str) -> str | None:
        """Key of the kept item ``text`` duplicates, or ``None`` (and ``text`` is kept)."""
        toks = _tokens(text)
        if self.method == "exact":
            return self._add_one(key, toks, None, None)
        sig = self._hasher.signatures([toks])
        return self._add_one(key, toks, sig[0], self._band_hashes(sig)[0])

    def dedup(self, items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str | None]]:
        """``(key, duplicate_of)`` for each ``(key, text)``, in order; same result as ``add``."""
        chunk: list[tuple[str, str]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= self.chunk_size:
                yield from self._chunk(chunk)
                chunk = []
        if chunk:
            yield from self._chunk(chunk)

    def _chunk(self, chunk: list[tuple[str, str]]) -> Iterator[tuple[str, str | None]]:
        toks = [_tokens(text) for _, text in chunk]
        if self.method == "exact":
            for (key, _), t in zip(chunk, toks, strict=True):
                yield key, self._add_one(key, t, None, None)
            return
        sigs = self._hasher.signatures(toks)
        bands = self._band_hashes(sigs)
        for i, ((key, _), t) in enumerate(zip(chunk, toks, strict=True)):
            yield key, self._add_one(key, t, sigs[i], bands[i])

    def _band_hashes(self, sigs: np.ndarray) -> list[list[int]]:
        b, r = self.bands, self.rows
        rows = sigs[:, : b * r].reshape(len(sigs), b, r).astype(np.uint64)
        h = (rows * self._band_mult).sum(axis=2, dtype=np.uint64) + self._band_salt
        return _mix64(h).tolist()  # type: ignore[no-any-return]

    def _signature(self, index: int) -> np.ndarray:
        return self._blocks[index // _BLOCK][index % _BLOCK]

    def _add_one(
        self, key: str, toks: list[str], sig: np.ndarray | None, bands: list[int] | None
    ) -> str | None:
        self.n_seen += 1
        digest = hashlib.blake2b(" ".join(toks).encode(), digest_size=16).digest()
        hit = self._exact.get(digest)
        if hit is not None:
            self.n_exact += 1
            return self._keys[hit]
        if sig is not None and bands is not None and toks:
            best, best_eq = -1, -1
            buckets = self._buckets
            for h in bands:
                cand = buckets.get(h)
                if cand is not None and cand != best:
                    eq = int(np.count_nonzero(self._signature(cand) == sig))
                    if eq > best_eq or (eq == best_eq and cand < best):
                        best, best_eq = cand, eq
            if best_eq >= self._min_equal:
                self.n_near += 1
                return self._keys[best]
        index = len(self._keys)
        self._keys.append(key)
        self._exact[digest] = index
        if sig is not None and bands is not None:
            if index % _BLOCK == 0:
                self._blocks.append(np.empty((_BLOCK, self.num_perm), dtype=np.uint32))
            self._blocks[-1][index % _BLOCK] = sig
            if toks:  # an empty text is only ever an exact duplicate
                for h in bands:
                    self._buckets.setdefault(h, index)
        return None
