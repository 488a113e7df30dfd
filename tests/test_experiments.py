"""The experiment suite's code path at toy size: every condition minted through
``tracemint run``, trained with ``tracemint train`` and scored by ``tracemint eval``, and the
eval's verdicts agree with ``tracemint verify`` on the same outputs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


@pytest.fixture
def experiments() -> Iterator[None]:
    sys.path.insert(0, str(EXPERIMENTS))
    import common

    # one process: torch and TRL are imported once, not once per command
    common.INPROCESS = True
    try:
        yield
    finally:
        common.INPROCESS = False
        sys.path.remove(str(EXPERIMENTS))


def test_rationales_experiment_at_toy_size(tmp_path: Path, experiments: None) -> None:
    import agreement
    import common
    import rationales

    argv = ["--family", "modular", "--seeds", "1", "--n-train", "12", "--n-eval", "3"]
    argv += ["--conditions", "all"]
    argv += ["--steps", "2", "--batch-size", "4", "--max-new-tokens", "12", "--d-model", "32"]
    argv += ["--name", "toy", "--results-dir", str(tmp_path / "results")]
    argv += ["--work-dir", str(tmp_path / "work"), "--label", "test"]
    rationales.run(rationales.parse_args(argv))

    result = json.loads((tmp_path / "results" / "toy.json").read_text())
    assert (tmp_path / "results" / "toy.png").stat().st_size > 0
    names = [c.name for c in common.CONDITIONS]
    assert list(result["conditions"]) == names
    setup = result["setup"]
    assert setup["noise"] == 0.3 and setup["steps"] == 2 and setup["n_train"] == 12
    assert result["student"]["params"] > 0 and result["student"]["vocab"] > 0
    assert result["wall_seconds"] > 0 and result["load"]["before"]
    # a 2-step toy student solves nothing, so it has no verified sample of its own to pair:
    # the on-policy condition is recorded as such, and every other condition trained
    untrained = {"noisy_steps_rpo_self"}
    for name, summary in result["conditions"].items():
        if name in untrained:
            continue
        for split in ("id", "ood"):
            s = summary[split]
            assert s["n"] == 1 and 0.0 <= s["mean"] <= 1.0 and s["std"] == 0.0, name
    runs = {r["condition"]: r for r in result["runs"]}
    assert all(r["n_id"] == 3 and r["n_ood"] == 3 for n, r in runs.items() if n not in untrained)
    assert runs["noisy_steps_rpo_self"]["note"] == "no dpo pairs"
    assert all(r["train_rows"] > 0 for r in runs.values())

    # what verification let through, from the mints' own traces
    gold, noisy = runs["gold"]["mint"], runs["noisy"]["mint"]
    assert gold["traces"] == noisy["traces"] == 24  # 12 problems x 2 samples
    assert gold["answer_wrong"] == gold["step_wrong"] == 0
    assert noisy["step_wrong"] > 0
    rows = {n: runs[n]["train_rows"] for n in names}
    assert rows["noisy"] == 24 == rows["gold"] == rows["answer_only"]
    assert rows["noisy"] - rows["noisy_answer"] == noisy["answer_wrong"]
    assert rows["noisy_steps"] == noisy["traces"] - noisy["step_wrong"]
    assert rows["noisy_steps_prefixes"] == rows["noisy_steps"] + noisy["sft_partial_rows"]

    # issue 20's conditions: SFT then DPO at the same total steps, on the mint's own pairs
    dpo = runs["noisy_steps_dpo"]
    stages = dpo["train_stages"]
    assert [s["method"] for s in stages] == ["sft", "dpo"]
    assert sum(s["steps"] for s in stages) == setup["steps"]
    assert stages[0]["rows"] == rows["noisy_steps"] and stages[1]["rows"] == noisy["dpo_pairs"] > 0
    assert stages[1]["nll_weight"] == 0.0 and stages[1]["lr"] < stages[0]["lr"]
    rpo = runs["noisy_steps_rpo"]["train_stages"]
    assert rpo[0] == {**stages[0], "wall_seconds": rpo[0]["wall_seconds"]}  # the same SFT
    assert rpo[1]["method"] == "dpo" and rpo[1]["nll_weight"] == 1.0
    # on-policy pairs: the SFT stage sampled every training problem itself, on the bare prompt
    from tracemint.store import RunStore

    self_run = tmp_path / "work" / "toy" / "seed0" / "mints" / "noisy_steps_rpo_self-self-s0"
    sampled = RunStore(self_run).read_traces(columns=["prompt", "model"]).to_pylist()
    assert len(sampled) == 12 * 4
    assert all(json.loads(t["prompt"])[-1]["content"].startswith("Compute") for t in sampled)
    # Monte-Carlo labels filter among the answer-verified traces
    assert rows["noisy_mc"] <= rows["noisy_answer"]
    # the two labellers on the same answer-verified traces (experiments/step_labels.py)
    import step_labels

    labels = step_labels.main([str(tmp_path / "work" / "toy"), "--results-dir", str(tmp_path)])
    counts = labels["seeds"]["0"]
    assert counts["answer_verified"] == noisy["traces"] - noisy["answer_wrong"]
    assert counts["checker_flags"] == counts["checker_true"] == counts["slipped"]  # exact
    assert counts["both"] + counts["rollouts_only"] == counts["rollout_flags"]
    assert counts["answer_verified"] - counts["rollout_flags"] == rows["noisy_mc"]
    assert counts["rollout_calls"] > 0
    # rationales as a second task: two rows per gold trace, asked with the answer prefix
    assert rows["gold_multitask"] == 2 * rows["gold"]
    for name, prefix in (("gold_multitask", True), ("gold", False)):
        prompts = RunStore(runs[name]["eval_run"]).read_traces(columns=["prompt"]).to_pylist()
        users = [json.loads(p["prompt"])[-1]["content"] for p in prompts]
        assert len(users) == 6 and all(u.startswith("[answer] ") is prefix for u in users)

    # eval verdicts == `tracemint verify` verdicts on the same completions
    check = agreement.agreement(Path(runs["gold"]["eval_run"]), tmp_path / "agreement")
    assert check["outputs"] == 6
    assert check["same_correct"] == check["outputs"], check["differ"]
    assert check["same_answer"] == check["outputs"]

    # the record says what a rerun has to match: the lock, every version, threads, dtype
    env = result["environment"]
    assert env["torch_threads"] == setup["threads"] == 2
    assert env["lock_matches_venv"] is True or os.environ.get("TRACEMINT_UNLOCKED") == "1"
    assert len(env["lock_sha256"]) == 64
    assert env["packages"]["torch"] == env["key_packages"]["torch"]

    # ... and a rerun on the same machine and lock repeats every number of the record
    again = [a if a != "toy" else "toy-again" for a in argv]
    rationales.run(rationales.parse_args(again))
    rerun = json.loads((tmp_path / "results" / "toy-again.json").read_text())
    assert rerun["conditions"] == result["conditions"]
    measured = ("id_accuracy", "ood_accuracy", "final_loss", "train_rows", "n_id", "n_ood")
    for first, second in zip(result["runs"], rerun["runs"], strict=True):
        assert {k: first.get(k) for k in measured} == {k: second.get(k) for k in measured}
