"""Exports read back by `datasets` (an independent reader), and the HTML report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

import scripted
from test_runner import recipe, run
from tracemint.errors import RunError
from tracemint.export import export_run
from tracemint.report import build_report, report_stats, svg
from tracemint.store import RunStore


@pytest.fixture
def run_dir(tmp_path: Path, addition_problems: Path) -> Path:
    run(recipe(tmp_path, addition_problems))
    return tmp_path / "runs" / "t"


def test_sft_rows_are_trl_conversations(run_dir: Path, tmp_path: Path) -> None:
    res = export_run(run_dir, ["sft"], tmp_path / "out", system_prompt="Be brief.")
    assert res["sft"]["rows"] == 12
    ds = datasets.load_dataset(
        "json", data_files=str(tmp_path / "out" / "sft.jsonl"), split="train"
    )
    assert len(ds) == 12
    # TRL's conversational prompt-completion layout: the loss covers the completion only
    prompt, completion = ds[0]["prompt"], ds[0]["completion"]
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert prompt[1]["content"].startswith("What is")  # the bare question, not the template
    assert [m["role"] for m in completion] == ["assistant"]
    assert "The answer is" in completion[0]["content"]
    assert ds[0]["verdict"] == "correct" and ds[0]["problem_id"].startswith("p")
    pq_ds = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "out" / "sft.parquet"), split="train"
    )
    assert pq_ds.num_rows == 12
    assert pq_ds.features == ds.features  # the JSONL and the Parquet read alike


def test_sft_messages_is_the_one_column_layout(run_dir: Path, tmp_path: Path) -> None:
    res = export_run(run_dir, ["sft", "sft_messages"], tmp_path / "out", file_types=("jsonl",))
    assert res["sft_messages"]["rows"] == res["sft"]["rows"] == 12
    read = [
        [json.loads(x) for x in (tmp_path / "out" / f"{n}.jsonl").read_text().splitlines()]
        for n in ("sft", "sft_messages")
    ]
    for pc, msgs in zip(*read, strict=True):
        assert msgs["messages"] == pc["prompt"] + pc["completion"]
        assert {k: v for k, v in msgs.items() if k != "messages"} == {
            k: v for k, v in pc.items() if k not in ("prompt", "completion")
        }


def test_preference_pairs_pair_correct_with_wrong(run_dir: Path, tmp_path: Path) -> None:
    res = export_run(run_dir, ["dpo"], tmp_path / "out", file_types=("jsonl",))
    assert res["dpo"]["rows"] == 12  # 2 correct x 2 wrong per problem -> 2 pairs each
    rows = [json.loads(x) for x in (tmp_path / "out" / "dpo.jsonl").read_text().splitlines()]
    for r in rows:
        assert r["chosen_verdict"] == "correct" and r["rejected_verdict"] == "wrong"
        assert r["prompt"][-1]["role"] == "user"
        assert r["chosen"][0]["role"] == r["rejected"][0]["role"] == "assistant"
        assert r["chosen_trace_id"] != r["rejected_trace_id"]
    assert len({r["rejected_trace_id"] for r in rows}) == len(rows)  # each used once


def test_export_of_a_non_run_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a tracemint run"):
        export_run(tmp_path, ["sft"])


def test_report_prices_tokens_when_asked(tmp_path: Path, addition_problems: Path) -> None:
    run(
        recipe(
            tmp_path,
            addition_problems,
            report={
                "price_per_million_prompt_tokens": 1000.0,
                "price_per_million_completion_tokens": 2000.0,
            },
        )
    )
    page = build_report(tmp_path / "runs" / "t").read_text()
    s = report_stats(RunStore(tmp_path / "runs" / "t"))
    assert s["prompt_tokens"] == 240  # scripted teacher: 24 calls x 10 prompt tokens
    expected = (s["prompt_tokens"] * 1000 + s["completion_tokens"] * 2000) / 1e6 / 12
    assert f"cost per accepted trace ($)</th><td>{expected:.3f}</td>" in page


def test_report_has_numbers_and_plots(run_dir: Path) -> None:
    path = build_report(run_dir)
    page = path.read_text()
    assert "accuracy (correct / graded)" in page and "0.500" in page
    # verdicts, agreement, length; difficulty and accepted lengths from the analytics
    alts = ("Verdicts", "Agreement", "Length", "Difficulty", "Lengths")
    assert all(f'<figure data-plot="{a}">' in page for a in alts)
    assert page.count("<svg ") == len(alts) + 1  # "Lengths" has two panels
    assert "cost" not in page  # no prices given, no made-up money
    assert "wrong" in page  # the drop-reason table


def test_report_does_not_import_matplotlib(run_dir: Path) -> None:
    """The run report is built after every run: it must not pay matplotlib's import."""
    code = (
        "import sys; from tracemint.report import build_report; "
        f"build_report({str(run_dir)!r}); print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_svg_histogram_counts_like_numpy() -> None:
    """Bin counts (in each bar's tooltip) match numpy's, right edge closed in the last bin."""
    values = [0.0, 0.1, 0.1, 0.25, 0.5, 0.99, 1.0, 1.0, 1.2, -0.1]
    edges = [i / 4 for i in range(5)]
    page = svg.histogram(values, bins=edges, title="t")
    counts, _ = np.histogram(values, bins=edges)
    shown = [int(m) for m in re.findall(r"<title>[^<]*: (\d+)</title>", page)]
    assert shown == [int(c) for c in counts if c]
    assert page.startswith("<svg ") and page.endswith("</svg>")
    assert svg.histogram([], bins=10, title="empty").count("<rect") == 0


def test_svg_escapes_labels() -> None:
    page = svg.bars(["<b>", "a&b"], [1, 2], title='say "hi" <now>')
    assert "<b>" not in page and "&lt;b&gt;" in page and "a&amp;b" in page
    assert "&quot;hi&quot;" in page


def test_report_shows_wrong_steps_behind_right_answers(
    tmp_path: Path, addition_problems: Path
) -> None:
    def sloppy(question: str, i: int) -> str:
        a, b = (int(x) for x in question.removeprefix("What is ").split("?")[0].split("+"))
        shown = a + b + (1 if i == 0 else 0)  # sample 0 miscomputes a step, then recovers
        return f"First, {a} + {b} = {shown}.\nSo the sum is {a + b}.\nThe answer is {a + b}."

    run(recipe(tmp_path, addition_problems), teacher=scripted.ScriptedTeacher(script=sloppy))
    page = build_report(tmp_path / "runs" / "t").read_text()
    assert "right answers with a wrong step</th><td>0.250" in page  # 1 of 4 samples each
    assert '<figure data-plot="First error">' in page


def test_svg_count_axes_tick_whole_numbers() -> None:
    page = svg.histogram([1.0, 2.0, 2.0, 3.0], bins=3, title="t")
    labels = re.findall(r'text-anchor="end">([^<]+)</text>', page)
    assert labels and all(float(x).is_integer() for x in labels)
    curve = svg.line([0, 0.5, 1], [0.2, 0.5, 0.9], title="c", ymax=1.0)
    assert "0.2" in re.findall(r'text-anchor="end">([^<]+)</text>', curve)
