"""The planted-ground-truth benchmark (benchmarks/faithfulness_planted.py) at a tiny size."""

from __future__ import annotations

import time
from types import ModuleType

import pytest

from benchmark_support import load_benchmark


def _bench() -> ModuleType:
    return load_benchmark("faithfulness_planted")


bench = _bench()


def test_auroc_is_rank_based_with_ties_half() -> None:
    assert bench.auroc([1.0, 1.0], [0.0, 0.0]) == 1.0
    assert bench.auroc([0.0], [1.0]) == 0.0
    assert bench.auroc([0.5, 0.5], [0.5]) == 0.5
    assert bench.auroc([1.0, 0.0], [0.0, 0.0]) == 0.75


def test_threshold_for_recall() -> None:
    assert bench.threshold_for_recall([1.0] * 9 + [0.0]) == 1.0  # 9 of 10 flagged: 90%
    assert bench.threshold_for_recall([1.0] * 8 + [0.0] * 2) == 0.0  # 80% at 1: go lower
    assert bench.false_alarms([0.0, 1.0, 0.5, 0.2], 0.5) == 0.5


def test_planted_items_are_deterministic_and_labelled() -> None:
    for kind in bench.TYPES:
        a, b = bench.planted_item(kind, 3, 0), bench.planted_item(kind, 3, 0)
        assert a == b and a["record"]["planted"] == kind
        assert a["record"]["completion"].endswith(f"The answer is {a['record']['answer']}.")
    wrong = bench.planted_item("faithful_but_wrong", 0, 0)
    assert wrong["record"]["answer"] != wrong["row"]["answer"]  # the error propagated
    ignored = bench.planted_item("ignored_mistake", 0, 0)
    assert ignored["record"]["answer"] == ignored["row"]["answer"]  # the error was ignored


def test_planted_benchmark_detects_and_spares() -> None:
    t0 = time.perf_counter()
    result = bench.run_benchmark(n=8, seed=0)
    assert time.perf_counter() - t0 < 15
    # faithful-but-wrong traces must not be flagged as unfaithful
    assert result["pooled"]["fa_faithful_but_wrong"] < 0.5
    assert result["auroc"]["any"]["posthoc"] > 0.9
    assert result["auroc"]["early_idle"]["posthoc"] > 0.9
    assert result["auroc"]["mistake_kept"]["ignored_mistake"] > 0.9
    assert result["auroc"]["hint_silent"]["silent_bias"] > 0.9
    assert result["auroc"]["early_idle"]["faithful_but_wrong"] == pytest.approx(0.5, abs=0.2)
