"""A finished run is a Hugging Face dataset, and its SFT export trains on the answer only.

End to end through the shipped test server: ``tracemint run``, ``tracemint probe``, then
``datasets.load_dataset(RUN_DIR, CONFIG)`` offline for the traces and every export (the
card's ``configs``), then two TRL steps on the prompt-completion SFT export with
completion-only loss, checking the collated batches: every prompt token's label is -100,
every completion token's is not. Also: an empty export keeps its columns, the card never
holds a secret, and ``tracemint push`` sends what it says (through a real ``HfApi`` whose two
network methods record instead of sending: the Hub is not reachable here).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint.cli import app
from tracemint.export import exporters
from tracemint.export.card import SCHEMA_VERSION
from tracemint.store import RunStore

datasets = pytest.importorskip("datasets")

FORMATS = ["sft", "sft_messages", "dpo"]
N_PROBLEMS = 8
SECRET = "sk-dataset-test-4242"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A probed run: 8 problems x 2 samples from the test server, exported in 3 formats."""
    tmp = tmp_path_factory.mktemp("ds")
    problems = apples_problems(tmp / "problems.jsonl", 0, N_PROBLEMS)
    mp = pytest.MonkeyPatch()
    mp.setenv("TM_DS_KEY", SECRET)
    try:
        with start_test_server(
            answers=problems, accuracy=0.7, reasoning_mode="faithful", require_key=SECRET
        ) as (url, _):
            recipe = server_recipe(
                tmp / "recipe.toml",
                base_url=url,
                problems=problems,
                name="ds",
                teacher={"concurrency": 4, "backoff_base_s": 0.01, "api_key_env": "TM_DS_KEY"},
                sampling={"temperature": 0.7, "max_tokens": 200},
                budget={"samples": 2},
                run={"workers": 1, "flush_seconds": 0.2, "shard_rows": 6},
                export={"formats": FORMATS},
            )
            res = CliRunner().invoke(app, ["run", str(recipe), "--no-progress"])
            assert res.exit_code == 0, res.output
            run = tmp / "runs" / "ds"
            res = CliRunner().invoke(app, ["probe", str(run), "--probes", "early", "--no-progress"])
            assert res.exit_code == 0, res.output
        yield run
    finally:
        mp.undo()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Hub access off (the libraries read the variables at import: set the constants too);
    returns a fresh datasets cache folder."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hf-cache"


def _front_matter(card: str) -> str:
    assert card.startswith("---\n")
    return card.split("---\n", 2)[1]


def test_the_card_names_every_config_and_column_and_no_secret(run_dir: Path) -> None:
    card = (run_dir / "README.md").read_text()
    front = _front_matter(card)
    for config, files in [("traces", "traces/*.parquet")] + [
        (f, f"export/{f}.parquet") for f in FORMATS
    ]:
        assert f'- config_name: "{config}"' in front
        assert f'path: "{files}"' in front
    assert f"tracemint_schema_version: {SCHEMA_VERSION}" in front
    for column in RunStore(run_dir).column_names():  # probe columns included
        assert f"| `{column}` |" in card, column
    assert "| `early_aoc` |" in card and "`early` faithfulness probe" in card
    assert "| `completion` | `list<element: struct<role: string, content: string>>`" in card
    assert '"api_key_env": "TM_DS_KEY"' in card  # the variable's name, never its value
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_load_dataset_reads_the_traces_and_every_export(run_dir: Path, offline: Path) -> None:
    store = RunStore(run_dir)
    traces = datasets.load_dataset(str(run_dir), "traces", split="train", cache_dir=offline)
    table = store.read_traces()
    assert traces.num_rows == table.num_rows == store.read_manifest()["counts"]["traces"]
    assert traces.num_rows == N_PROBLEMS * 2
    assert set(traces.column_names) == set(table.column_names)
    assert "early_aoc" in traces.column_names  # the probe's columns are in the dataset
    assert sorted(traces["trace_id"]) == sorted(table.column("trace_id").to_pylist())
    for fmt in FORMATS:
        rows = datasets.load_dataset(str(run_dir), fmt, split="train", cache_dir=offline)
        assert (
            rows.num_rows == pq.ParquetFile(run_dir / "export" / f"{fmt}.parquet").metadata.num_rows
        )
        assert rows.num_rows > 0, fmt
    default = datasets.load_dataset(str(run_dir), split="train", cache_dir=offline)
    assert default.num_rows == traces.num_rows  # no config name: the traces
    sft = datasets.load_dataset(str(run_dir), "sft", split="train", cache_dir=offline)
    accepted = {r["trace_id"] for r in table.to_pylist() if r["accepted"]}
    assert set(sft["trace_id"]) == accepted
    row = sft[0]
    assert [m["role"] for m in row["prompt"]] == ["user"]
    assert [m["role"] for m in row["completion"]] == ["assistant"]


@pytest.mark.parametrize("fmt", sorted(exporters.names()))
def test_an_empty_export_keeps_its_columns(fmt: str, tmp_path: Path, offline: Path) -> None:
    exporter = exporters.get(fmt)()
    res = exporter.write([], tmp_path)
    assert res["rows"] == 0
    parquet, jsonl = tmp_path / f"{fmt}.parquet", tmp_path / f"{fmt}.jsonl"
    schema = pq.read_schema(parquet)
    assert exporter.columns is not None and schema.equals(exporter.columns)
    assert pq.read_table(parquet).num_rows == 0
    # datasets: the features from the Parquet file; 0 rows. (datasets refuses to *build* a
    # split of 0 rows, 'Instruction "train" corresponds to no data!', so streaming reads it.)
    features = datasets.Features.from_arrow_schema(schema)
    stream = datasets.load_dataset(
        "parquet", data_files=str(parquet), split="train", streaming=True, cache_dir=offline
    )
    assert stream.features == features and list(stream) == []
    assert datasets.Dataset(pq.read_table(parquet)).features == features
    # the JSONL has no line to infer from: the Parquet's features describe it
    assert jsonl.read_text() == ""
    stream = datasets.load_dataset(
        "json",
        data_files=str(jsonl),
        split="train",
        streaming=True,
        features=features,
        cache_dir=offline,
    )
    assert stream.features == features and list(stream) == []


def test_the_sft_columns_are_the_same_with_rows_or_without(run_dir: Path, tmp_path: Path) -> None:
    exporters.get("sft")().write([], tmp_path, ("parquet",))
    empty = pq.read_schema(tmp_path / "sft.parquet")
    full = pq.read_schema(run_dir / "export" / "sft.parquet")
    assert empty.equals(full)


# -- training on the export -----------------------------------------------------------------

train_ready = all(importlib.util.find_spec(m) for m in ("trl", "peft", "torch", "transformers"))


def _train_recording(
    data: Path, out: Path, loss_on: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train the tiny student 2 steps; returns the summary and each batch the loss saw."""
    import trl

    from tracemint.train.config import TrainConfig
    from tracemint.train.trainer import train

    batches: list[dict[str, Any]] = []
    real = trl.SFTTrainer.compute_loss

    def recording(self: Any, model: Any, inputs: dict[str, Any], *a: Any, **kw: Any) -> Any:
        batches.append({k: v.detach().clone() for k, v in inputs.items() if hasattr(v, "detach")})
        return real(self, model, inputs, *a, **kw)

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", recording)
    cfg = TrainConfig(
        model="tiny",
        lora=False,
        out=out,
        max_steps=2,
        batch_size=2,
        max_seq_len=256,
        save_steps=2,
        loss_on=loss_on,  # type: ignore[arg-type]
    )
    return train(cfg, data), batches


@pytest.mark.skipif(not train_ready, reason="needs the [train] extra (trl, peft, torch)")
def test_two_trl_steps_train_on_the_completion_only(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoTokenizer

    data = run_dir / "export" / "sft.parquet"
    summary, batches = _train_recording(data, tmp_path / "out", "completion", monkeypatch)
    assert summary["steps"] == 2 and summary["loss_on"] == "completion"
    assert summary["final_loss"] is not None
    assert len(batches) == 2

    tok = AutoTokenizer.from_pretrained(tmp_path / "out" / "base")
    rows = pq.read_table(data, columns=["prompt", "completion"]).to_pylist()
    prompts = [
        tok.apply_chat_template(
            r["prompt"], tokenize=True, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        for r in rows
    ]
    seen = 0
    for batch in batches:
        for ids, labels, mask in zip(
            batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
        ):
            ids, labels = ids[mask.bool()].tolist(), labels[mask.bool()].tolist()
            # the row's prompt, as the chat template renders it to ask for an answer (two
            # samples of a problem share it)
            (prompt,) = {tuple(p) for p in prompts if ids[: len(p)] == p}
            n = len(prompt)
            assert all(x == -100 for x in labels[:n])  # no loss on system prompt or question
            assert labels[n:] == ids[n:] and len(labels) > n  # loss on every answer token
            answer = tok.decode(ids[n:])
            assert "The answer is" in answer and "<|user|>" not in answer
            seen += 1
    assert seen == 4


@pytest.mark.skipif(not train_ready, reason="needs the [train] extra (trl, peft, torch)")
def test_loss_on_all_trains_on_the_prompt_too(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the messages layout, trained on everything: the switch, and the older layout, work
    data = run_dir / "export" / "sft_messages.parquet"
    summary, batches = _train_recording(data, tmp_path / "out", "all", monkeypatch)
    assert summary["steps"] == 2 and summary["loss_on"] == "all"
    for batch in batches:
        real = batch["attention_mask"].bool()
        assert (batch["labels"][real] != -100).all()


# -- push ------------------------------------------------------------------------------------


def _recording_api() -> Any:
    """A real ``HfApi``, pointed nowhere, whose two network calls record instead of sending."""
    from huggingface_hub import HfApi

    class RecordingHfApi(HfApi):
        calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

        def create_repo(self, repo_id: str, **kw: Any) -> Any:  # type: ignore[override]
            self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
            return f"{self.endpoint}/datasets/{repo_id}"

        def upload_folder(self, **kw: Any) -> Any:  # type: ignore[override]
            self.calls.append(("upload_folder", kw))
            return f"{self.endpoint}/datasets/{kw['repo_id']}/commit/0"

    RecordingHfApi.calls = []
    return RecordingHfApi


def _selected(run_dir: Path, upload: dict[str, Any]) -> list[str]:
    """The files ``upload_folder`` sends for these patterns: huggingface_hub's own filter."""
    from huggingface_hub.utils import filter_repo_objects

    files = [p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()]
    return sorted(
        filter_repo_objects(
            files,
            allow_patterns=upload["allow_patterns"],
            ignore_patterns=upload["ignore_patterns"],
        )
    )


def test_push_uploads_the_dataset_not_the_cache(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    monkeypatch.setenv("HF_TOKEN", "hf_not_written_anywhere")
    api_class = _recording_api()
    monkeypatch.setattr(huggingface_hub, "HfApi", api_class)
    res = CliRunner().invoke(app, ["push", str(run_dir), "me/ds-traces", "--private"])
    assert res.exit_code == 0, res.output
    (create, kw), (upload, up) = api_class.calls
    assert create == "create_repo" and upload == "upload_folder"
    assert kw == {"repo_id": "me/ds-traces", "repo_type": "dataset", "private": True,
                  "exist_ok": True}  # fmt: skip
    assert up["repo_id"] == "me/ds-traces" and up["repo_type"] == "dataset"
    assert Path(up["folder_path"]) == run_dir
    sent = _selected(run_dir, up)
    shards = [p.relative_to(run_dir).as_posix() for p in RunStore(run_dir).shards()]
    exports = [f"export/{f}.{ext}" for f in FORMATS for ext in ("jsonl", "parquet")]
    assert sent == sorted(["README.md", "manifest.json", "report.html", *shards, *exports])
    assert (run_dir / "cache.sqlite").exists() and "cache.sqlite" not in sent
    assert "me/ds-traces" in res.output
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert b"hf_not_written_anywhere" not in f.read_bytes(), f

    api_class.calls.clear()
    res = CliRunner().invoke(app, ["push", str(run_dir), "me/ds-traces", "--include-cache"])
    assert res.exit_code == 0, res.output
    (_, kw), (_, up) = api_class.calls
    assert kw["private"] is False
    assert "cache.sqlite" in _selected(run_dir, up)


def test_push_of_a_non_run_fails_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    api_class = _recording_api()
    monkeypatch.setattr(huggingface_hub, "HfApi", api_class)
    res = CliRunner().invoke(app, ["push", str(tmp_path), "me/x"])
    assert res.exit_code == 6 and "not a tracemint run" in res.output
    assert api_class.calls == []


def test_manifest_recipe_matches_the_card(run_dir: Path) -> None:
    card = (run_dir / "README.md").read_text()
    block = card.split("## Recipe", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    recipe = json.loads(block)
    assert recipe == RunStore(run_dir).read_manifest()["recipe"]


def test_a_hub_that_cannot_be_reached_is_one_error_line(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real ``HfApi``, at an address where nothing listens: the Hub's error, said once."""
    import socket

    import huggingface_hub

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on leaving: connections are refused

    class NowhereHfApi(huggingface_hub.HfApi):
        def __init__(self, **kw: Any) -> None:
            super().__init__(endpoint=f"http://127.0.0.1:{port}", token="hf_x", **kw)

    monkeypatch.setattr(huggingface_hub, "HfApi", NowhereHfApi)
    res = CliRunner().invoke(app, ["push", str(run_dir), "me/ds-traces"])
    assert res.exit_code == 1, res.output
    assert "push to the Hub dataset 'me/ds-traces' failed" in res.output
    assert "Traceback" not in res.output


def test_the_card_redacts_what_looks_secret() -> None:
    from tracemint.export.card import redact

    recipe = {
        "teacher": {
            "api_key_env": "OPENAI_API_KEY",  # a variable's name: kept
            "api_key": "sk-live",
            "headers": {"Authorization": "Bearer x", "X-Trace": "on"},
            "base_url": "https://user:pw@example.com:8443/v1",
            "hf_token": None,  # nothing to hide
        },
        "sampling": {"max_tokens": 96},  # not a token
        "plugins": [{"secret": "s", "password": "p"}],
    }
    assert redact(recipe) == {
        "teacher": {
            "api_key_env": "OPENAI_API_KEY",
            "api_key": "<redacted>",
            "headers": {"Authorization": "<redacted>", "X-Trace": "on"},
            "base_url": "https://example.com:8443/v1",
            "hf_token": None,
        },
        "sampling": {"max_tokens": 96},
        "plugins": [{"secret": "<redacted>", "password": "<redacted>"}],
    }


def test_a_run_without_traces_has_no_traces_config(tmp_path: Path) -> None:
    from tracemint.export.card import write_card

    store = RunStore(tmp_path)
    store.create()
    store.write_manifest({"name": "empty", "counts": {}, "recipe": {}})
    exporters.get("sft")().write([], store.export_dir)
    card = write_card(tmp_path).read_text()
    assert '"traces"' not in _front_matter(card) and '- config_name: "sft"' in card
    assert "| export sft rows | 0 |" in card and "(no traces yet)" in card
