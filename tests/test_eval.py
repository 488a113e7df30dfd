"""``tracemint eval``: metrics, an end-to-end evaluation against the shipped test server,
agreement with ``tracemint verify``, and the ``local`` teacher on a tiny random model."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest_server import start_test_server
from tracemint.cli import app
from tracemint.evaluate import compute, difficulty_of, eval_section, majority_correct, pass_at_k
from tracemint.evaluate.run import family_problems
from tracemint.store import RunStore

# -- metrics ------------------------------------------------------------------------------


def _brute_pass(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_equals_enumeration() -> None:
    for n in range(1, 7):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(_brute_pass(n, c, k)), (n, c, k)
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)  # pass@1 is the sample accuracy
    assert pass_at_k(2, 1, 5) == 1.0  # k above n: k = n
    assert pass_at_k(0, 0, 1) == 0.0


def _s(answer: str | None, ok: bool, i: int = 0) -> dict[str, Any]:
    return {
        "problem_id": "p",
        "sample_index": i,
        "answer": answer,
        "verdict": "correct" if ok else "wrong",
        "metadata": None,
    }


def test_maj_at_k_ties_and_equivalence() -> None:
    # a 1-1 tie goes to the answer seen first
    assert majority_correct([_s("3", False), _s("4", True)], 2) == ("3", False)
    assert majority_correct([_s("4", True), _s("3", False)], 2) == ("4", True)
    # only the first k samples vote
    three = [_s("3", False), _s("4", True), _s("4", True)]
    assert majority_correct(three, 3) == ("4", True)
    assert majority_correct(three, 1) == ("3", False)
    # equivalent answers are one vote; the representative's verdict decides
    assert majority_correct([_s("1/2", True), _s("7", False), _s("0.5", True)], 3)[1] is True
    # nothing answered: no majority, not correct
    assert majority_correct([_s(None, False), _s(None, False)], 2) == (None, False)


def test_compute_by_difficulty() -> None:
    def meta(d: int) -> str:
        return json.dumps({"family": "modular", "config": {"difficulty": d}})

    traces = [
        {**_s("1", i < c, i), "problem_id": pid, "metadata": meta(d)}
        for pid, d, c in (("a", 1, 2), ("b", 1, 0), ("c", 3, 1))
        for i in range(2)
    ]
    r = compute(traces, 2)
    assert set(r["by_difficulty"]) == {"1", "3"}
    assert r["overall"]["accuracy"] == pytest.approx(3 / 6)
    assert r["by_difficulty"]["1"]["pass@2"] == pytest.approx(0.5)
    assert r["by_difficulty"]["3"]["pass@2"] == pytest.approx(1.0)
    assert r["overall"]["pass@1"] == pytest.approx(0.5)
    assert difficulty_of({"metadata": json.dumps({"level": "Level 5"})}) == "Level 5"
    assert difficulty_of({"metadata": json.dumps({"difficulty": 2})}) == "2"
    assert difficulty_of({"metadata": None}) == "all"


# -- end to end against the shipped test server --------------------------------------------

N_PROBLEMS, K = 30, 4


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    root = tmp_path_factory.mktemp("eval")
    problems = root / "problems.jsonl"
    with open(problems, "w") as f:
        for i in range(N_PROBLEMS):
            row = {
                "id": f"q{i}",
                "question": f"Ann has {i} pens and gets {i + 5} more. How many pens now? (#{i})",
                "answer": str(2 * i + 5),
            }
            f.write(json.dumps(row) + "\n")
    family_file = family_problems("modular", [1, 3], 6, 0, {}, root / "modular.jsonl")
    answers = root / "answers.jsonl"
    answers.write_text(problems.read_text() + family_file.read_text())
    with start_test_server(answers=str(answers), accuracy=0.5) as (url, _):
        yield url, problems, root


def _eval(url: str, runs: Path, name: str, *args: str) -> dict[str, Any]:
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "--name",
            name,
            "--teacher",
            "openai",
            "--base-url",
            url,
            "--model",
            "test-model",
            "--k",
            str(K),
            "--max-tokens",
            "400",
            "--runs-dir",
            str(runs),
            "--no-progress",
            *args,
        ],
    )
    assert res.exit_code == 0, res.output
    return json.loads((runs / name / "eval.json").read_text())


def test_eval_file_and_agreement_with_verify(
    served: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, problems, _ = served
    runs = tmp_path / "runs"
    result = _eval(url, runs, "bench", "--data", str(problems))
    o = result["overall"]
    assert o["problems"] == N_PROBLEMS and o["samples"] == N_PROBLEMS * K
    assert o["accuracy"] == pytest.approx(0.5, abs=0.15)
    assert o[f"pass@{K}"] > o["accuracy"]
    assert o["pass@1"] == pytest.approx(o["accuracy"])
    assert 0.0 <= o[f"maj@{K}"] <= 1.0
    assert set(result["by_difficulty"]) == {"all"}
    assert (runs / "bench" / "eval.png").stat().st_size > 0
    assert "pass@4" in eval_section(runs / "bench")

    # the same completions through `tracemint verify` get the same verdicts
    traces = RunStore(runs / "bench").read_traces(
        columns=["trace_id", "question", "completion", "reference", "verdict", "answer"]
    )
    rows = traces.to_pylist()
    src = tmp_path / "outputs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "graded.jsonl"
    res = CliRunner().invoke(app, ["verify", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    graded = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["verdict"] for g in graded] == [r["verdict"] for r in rows]
    assert [g["extracted_answer"] for g in graded] == [r["answer"] for r in rows]
    assert {r["verdict"] for r in rows} >= {"correct", "wrong"}

    # a rerun answers from the run (resume + cache): same numbers
    assert _eval(url, runs, "bench", "--data", str(problems))["overall"] == o


def test_eval_family_by_difficulty(served: tuple[str, Path, Path], tmp_path: Path) -> None:
    url, _, _ = served
    runs = tmp_path / "runs"
    result = _eval(url, runs, "mod", "--family", "modular", "--difficulty", "1,3", "--n", "6")
    by = result["by_difficulty"]
    assert set(by) == {"1", "3"}
    assert by["1"]["problems"] == by["3"]["problems"] == 6
    for g in by.values():
        assert 0.0 < g[f"pass@{K}"] <= 1.0
        assert g[f"pass@{K}"] >= g["accuracy"]
    overall = result["overall"]
    mean = (by["1"]["accuracy"] + by["3"]["accuracy"]) / 2  # equal sample counts
    assert overall["accuracy"] == pytest.approx(mean)


# -- the local teacher ----------------------------------------------------------------------


def _tiny_model(folder: Path, seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = ["Ann has 3 pens and gets 5 more. The answer is 8.", "system user assistant"] * 4
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)


def test_local_teacher_generates_and_identity_tracks_weights(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tracemint import plugins
    from tracemint.teachers.base import GenerationRequest
    from tracemint.teachers.local import LocalTeacher, LocalTeacherConfig

    assert plugins.teachers.get("local") is LocalTeacher
    folder = tmp_path / "ckpt"
    _tiny_model(folder, seed=0)
    cfg = LocalTeacherConfig(path=folder, dtype="float32", threads=1)
    teacher = LocalTeacher(cfg)
    ident = teacher.identity()
    assert ident["teacher"] == "local" and ident["path"] == str(folder.resolve())
    assert ident["model"] == "ckpt"
    try:
        (raw,) = teacher.complete_raw(["Ann has 3 pens"], max_tokens=5, temperature=0.0)
        assert 1 <= raw.completion_tokens <= 5
        req = GenerationRequest(
            messages=({"role": "user", "content": "Ann has 3 pens. How many?"},),
            max_tokens=6,
            temperature=0.7,
            seed=1,
        )
        (chat,) = asyncio.run(teacher.generate([req]))
        assert 1 <= chat.completion_tokens <= 6 and chat.model == "ckpt"
    finally:
        teacher.close()
    assert LocalTeacher(cfg).identity() == ident  # same weights: same cache identity
    _tiny_model(folder, seed=1)  # "retrained" in place
    assert LocalTeacher(cfg).identity()["weights"] != ident["weights"]
