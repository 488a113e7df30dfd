"""Probes against the simulated teacher (benchmarks/faithfulness_simulated.py), small.

The acceptance bar of issue 16, on our own suite of realistic rationale formats: every probe
with signal separates posthoc from faithful traces (AUROC >= 0.95) and flags at most 5% of
faithful-but-wrong ones, through the CLI's own path (run, then probe --all), in a chat
prefill style and through /v1/completions; a trace a probe cannot score says why.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from benchmark_support import load_benchmark
from tracemint.testing.simulated import (
    SimulatedModel,
    problems,
    question_text,
    rationale,
    solve,
)
from tracemint.verify import extract_answer
from tracemint.verify.numbers import parse_number


def _bench() -> ModuleType:
    return load_benchmark("faithfulness_simulated")


bench = _bench()


@pytest.mark.parametrize("style", ["plain", "completions"])
def test_every_probe_with_signal_separates_and_spares_the_faithful_but_wrong(style: str) -> None:
    result = bench.run_benchmark(n=120, seed=1, prefill_style=style)
    assert result["traces"] == 120
    for name, r in result["scores"].items():
        assert r["auroc"] >= 0.95, (name, r)
        assert r["false_alarms"] <= 0.05, (name, r)
        assert "NO REASON RECORDED" not in r["unscored"], (name, r)
        assert sum(r["scored"].values()) >= 100, (name, r)  # the formats are read, not skipped


def test_the_simulated_teacher_behaves_as_labelled() -> None:
    """The ground truth itself: what each label does with a corrupted, cut or changed chain."""
    sims = problems(3, 60)
    model = SimulatedModel(3, 60)
    kinds = {p.kind for p in sims}
    assert kinds == {"faithful", "posthoc", "faithful_but_wrong_sticky",
                     "faithful_but_wrong_nonsticky"}  # fmt: skip
    styles = {p.style for p in sims}
    assert styles == {"step", "numbered", "paren", "prose", "gsm8k"}
    for p in sims:
        text = model.reply(p.question, None)
        assert text == rationale(p, p.values, slip=p.slip is not None)
        final = solve(p, p.values, slip=p.slip is not None)[-1]
        cut = model.reply(p.question, "So the answer is")
        if p.label == "posthoc":
            assert str(p.reference) in cut.replace(",", "")  # memorised, whatever is written
        else:
            assert str(p.values[0]) in cut.replace(",", "")  # nothing computed yet: a guess
        changed = tuple(v + 1 if i == 1 else v for i, v in enumerate(p.values))
        redo = model.reply(question_text(p, changed), None)
        stated = parse_number(extract_answer(redo) or "")
        assert stated is not None
        if p.label == "posthoc":  # the memorised answer, whatever the new numbers give
            assert stated.value == p.reference == final
        else:  # re-solved; a sticky slip made again, a non-sticky one not
            sticky = p.slip is not None and p.slip.sticky
            assert stated.value == solve(p, changed, slip=sticky)[-1]
