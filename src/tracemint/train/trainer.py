"""Fine-tune a student on exported data with TRL: SFT on ``messages`` rows, DPO on pairs.

Layout of ``cfg.out``::

    checkpoint-N/        Trainer checkpoints (model or adapter, optimizer, scheduler, RNG state)
    base/                the fresh "tiny" student (only for model="tiny")
    train_log.jsonl      one line per logging step: step, loss, lr, grad_norm, epoch, ...
    train_summary.json   written at the end: steps, final loss, seconds/step, where saved
    final/               the trained model (LoRA merged into the base), ready to load
    adapter/             LoRA adapter only, when the base cannot be merged and saved (GGUF)

Rerunning with the same ``out`` resumes from the last ``checkpoint-*``; log lines past that
checkpoint (written before a crash) are dropped so the log never repeats a step.

torch, transformers, trl and peft are imported inside functions (the ``[train]`` extra).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracemint.errors import ConfigError, missing
from tracemint.hardware import native_bf16
from tracemint.train.config import TrainConfig

#: Deprecation notices that transformers raises from inside PEFT/TRL, for calls we do not
#: make; each is ignored by its exact text, only while training, so a new one still fails
#: the tests (pytest runs with filterwarnings = error). Drop an entry when the lock moves to a
#: PEFT that no longer triggers it (`make test-latest` shows it).
THIRD_PARTY_WARNINGS = (
    # peft PeftModel.__init__ reads model.is_gradient_checkpointing (renamed in
    # transformers 5.x to is_activation_checkpointing); upstream: huggingface/peft, fixed
    # once peft reads the new name
    "`is_gradient_checkpointing` is deprecated and will be removed in v6. "
    "Use `is_activation_checkpointing` instead.",
)

log = logging.getLogger(__name__)

_SFT_LAYOUTS: tuple[tuple[str, ...], ...] = (("messages",), ("prompt", "completion"), ("text",))
_DPO_COLUMNS = ("prompt", "chosen", "rejected")


def require_train() -> None:
    """Fail early, with the install hint, when the ``[train]`` extra is missing."""
    for mod in ("torch", "transformers", "trl", "peft", "datasets"):
        if importlib.util.find_spec(mod) is None:
            raise missing("train", "torch, transformers, trl, peft and datasets")


# -- data -------------------------------------------------------------------------------------


def load_rows(path: Path, method: str) -> list[dict[str, Any]]:
    """The TRL columns of an exported file (provenance columns are dropped).

    Export writes JSONL and Parquet, so both are read (and JSON, CSV, Arrow: the shared
    ``RowReader``, whose errors name the file, the line or row, and the field). SFT rows are
    ``messages`` (what ``tracemint export --format sft`` writes), or ``prompt``/``completion``,
    or ``text``; DPO rows are ``prompt``/``chosen``/``rejected``.
    """
    from tracemint.sources.rows import RowReader

    reader = RowReader(path)
    rows: list[dict[str, Any]] = []
    layout: tuple[str, ...] | None = None
    for _, number, row in reader.rows():
        if method == "dpo":
            need: tuple[str, ...] = _DPO_COLUMNS
        elif layout is None:
            found = [lay for lay in _SFT_LAYOUTS if all(k in row for k in lay)]
            need = found[0] if found else _SFT_LAYOUTS[0]
        else:
            need = layout
        layout = need
        for k in need:
            if row.get(k) in (None, "", []):
                raise reader.error(
                    number, f"missing for --method {method} (export with --format {method})", k
                )
        rows.append({k: row[k] for k in need})
    return rows


def _texts(rows: list[dict[str, Any]]) -> list[str]:
    """Every string in the rows (message contents included): a tiny student's tokenizer corpus."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            walk(v.get("content"))

    for r in rows:
        for v in r.values():
            walk(v)
    return out


# -- model ------------------------------------------------------------------------------------


def _has_safetensors(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.safetensors"))


def _load_folder(folder: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracemint.teachers.gguf_cache import ensure_chat_template, quiet_progress_bars

    with quiet_progress_bars():
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=torch.float32, local_files_only=True
            )
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"--model: cannot load {folder}: {e}") from e
    ensure_chat_template(tokenizer)
    return model, tokenizer


def load_base(cfg: TrainConfig, rows: list[dict[str, Any]]) -> tuple[Any, Any, Path | None]:
    """The base model (float32 master weights), its tokenizer, and its safetensors folder.

    The folder is None when the weights came straight from a GGUF file: such a model trains,
    but merging LoRA into it and saving it fails, so only the adapter is kept.
    """
    import torch

    from tracemint.teachers import gguf_cache

    if cfg.model == "embedded":
        from tracemint.teachers.embedded import EmbeddedTeacherConfig

        gguf = gguf_cache.find_bundled_gguf()
        name = EmbeddedTeacherConfig().model
        root = gguf_cache.default_cache_root()
        target = gguf_cache.cache_path(root, name, gguf_cache.gguf_fingerprint(gguf))
        model, tokenizer = gguf_cache.load_model(gguf, root, name, "float32")
        return model, tokenizer, target if _has_safetensors(target) else None
    if cfg.model == "tiny":
        folder = cfg.out / "base"
        if not (folder / "config.json").exists():  # a resumed run keeps its first student
            try:
                from tracemint.train.tiny import init_student
            except ImportError as e:
                raise ConfigError(f"--model tiny is not available: {e}") from e
            folder = init_student(
                _texts(rows), folder, max_len=max(512, cfg.max_seq_len), seed=cfg.seed
            )
        return (*_load_folder(folder), folder)
    path = Path(cfg.model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        with gguf_cache.quiet_progress_bars():
            model, tokenizer = gguf_cache.load_gguf(path)
        return model.to(torch.float32), tokenizer, None
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"--model: {cfg.model!r} is not 'embedded', 'tiny', a Hugging Face model "
            "directory (with config.json) or a .gguf file"
        )
    return (*_load_folder(path), path if _has_safetensors(path) else None)


# -- logging ----------------------------------------------------------------------------------


def _log_callback(log_path: Path) -> Any:
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):  # type: ignore[misc]
        """Appends each logged step to ``train_log.jsonl`` and times the optimizer steps."""

        def __init__(self) -> None:
            self.step_seconds: list[float] = []
            self._t0: float | None = None
            self._last: float | None = None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self._t0 is None:
                self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            now = time.perf_counter()
            if self._t0 is not None:
                self.step_seconds.append(now - self._t0)
                self._last = now - self._t0
            self._t0 = None

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or not any(k in logs for k in ("loss", "train_loss")):
                return
            if "train_loss" in logs:  # the end-of-training aggregate goes to the summary
                return
            entry: dict[str, Any] = {"step": state.global_step}
            for k, v in logs.items():
                key = "lr" if k == "learning_rate" else k
                entry[key] = float(v) if isinstance(v, int | float) else v
            if self._last is not None:
                entry["step_seconds"] = round(self._last, 4)
            entry["time"] = time.time()
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    return LossLog()


def _progress_callback(enabled: bool) -> Any:
    """A TrainerCallback that draws one rich progress line on stderr: steps, loss, ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):  # type: ignore[misc]
        """Steps done of ``max_steps`` (a resumed run starts where it stopped), last loss."""

        def __init__(self) -> None:
            self.progress = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps  loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                disable=not enabled,
            )
            self.task: TaskID | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=state.max_steps or None, completed=state.global_step, loss="-"
            )

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.task is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if self.task is not None and logs and isinstance(logs.get("loss"), int | float):
                self.progress.update(self.task, loss=f"{logs['loss']:.4f}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.close()

        def close(self) -> None:
            self.progress.stop()

    return RichProgress()


def _trim_log(log_path: Path, upto: int) -> None:
    """Drop lines logged after the checkpoint we resume from (a crash between saves)."""
    if not log_path.exists():
        return
    keep = [
        line
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= upto
    ]
    log_path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def read_log(out: Path) -> list[dict[str, Any]]:
    """The lines of ``out/train_log.jsonl`` (empty when there is none)."""
    path = out / "train_log.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def last_checkpoint(out: Path) -> Path | None:
    """The ``checkpoint-N`` with the highest N that holds a trainer state."""
    best: tuple[int, Path] | None = None
    if out.is_dir():
        for d in out.iterdir():
            m = re.fullmatch(r"checkpoint-(\d+)", d.name)
            if m and d.is_dir() and (d / "trainer_state.json").exists():
                n = int(m.group(1))
                if best is None or n > best[0]:
                    best = (n, d)
    return best[1] if best else None


# -- training ---------------------------------------------------------------------------------


def _device_and_bf16(cfg: TrainConfig) -> tuple[str, bool]:
    import torch
    from transformers.utils.import_utils import is_torch_bf16_available_on_device

    device = "cuda" if torch.cuda.is_available() else "cpu"
    supported = is_torch_bf16_available_on_device(device)
    if cfg.bf16 and not supported:
        raise ConfigError(f"bf16 is not supported on this {device}; train with bf16 off")
    if cfg.bf16 is not None:
        return device, cfg.bf16
    # Auto: only where bf16 is native; emulated bf16 autocast on a CPU is ~4x slower than
    # float32 (hardware.py)
    return device, supported and native_bf16()


def _common_args(cfg: TrainConfig, device: str, bf16: bool) -> dict[str, Any]:
    return {
        "output_dir": str(cfg.out),
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.learning_rate,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps if cfg.max_steps is not None else -1,
        "warmup_steps": cfg.warmup_steps,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "bf16": bf16,
        "fp16": False,
        "use_cpu": device == "cpu",
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "save_total_limit": cfg.save_total_limit,
        "logging_strategy": "steps",
        "logging_steps": cfg.logging_steps,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "max_length": cfg.max_seq_len,
        _checkpointing_field(): cfg.gradient_checkpointing,
    }


def _checkpointing_field() -> str:
    """transformers 5.x renamed ``gradient_checkpointing`` (the old name warns)."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )


def train(cfg: TrainConfig, data_path: Path, *, progress: bool = False) -> dict[str, Any]:
    """Train, resuming from ``cfg.out``'s last checkpoint; return the summary it also writes.

    ``progress`` draws a rich progress bar (steps, loss, ETA) on stderr instead of the
    Trainer's printed log dicts (never printed); the same numbers always go to
    ``train_log.jsonl``.
    """
    # the data first: a wrong file is the commoner mistake, and reading it needs no extra
    rows = load_rows(Path(data_path), cfg.method)
    require_train()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with _library_bars_off():
        return _train(cfg, rows, progress)


@contextlib.contextmanager
def _library_bars_off() -> Iterator[None]:
    """The libraries' own tqdm bars (tokenizing a 4-row dataset, writing one shard) would
    print around ours line by line, or be the only noise under --no-progress: off for the
    duration, then as they were."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_was, ds_was = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hf_was:
            hf_logging.enable_progress_bar()
        if ds_was:
            datasets.enable_progress_bars()


def _train(cfg: TrainConfig, rows: list[dict[str, Any]], progress: bool) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import set_seed

    cfg.out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    device, bf16 = _device_and_bf16(cfg)
    model, tokenizer, safetensors_dir = load_base(cfg, rows)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = Dataset.from_list(rows)

    peft_config = None
    if cfg.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_target,
            task_type="CAUSAL_LM",
        )

    log_path = cfg.out / "train_log.jsonl"
    resume = last_checkpoint(cfg.out)
    start_step = 0
    if resume is not None:
        state = json.loads((resume / "trainer_state.json").read_text())
        start_step = int(state.get("global_step", 0))
        _trim_log(log_path, start_step)
        log.info("resuming from %s (step %d)", resume, start_step)
    else:
        log_path.unlink(missing_ok=True)
    callback = _log_callback(log_path)
    bar = _progress_callback(progress)

    common = _common_args(cfg, device, bf16)
    with warnings.catch_warnings():
        for message in THIRD_PARTY_WARNINGS:
            warnings.filterwarnings("ignore", message=re.escape(message), category=FutureWarning)
        return _run(
            cfg,
            common,
            model,
            tokenizer,
            dataset,
            peft_config,
            callback,
            bar,
            resume,
            start_step,
            device,
            bf16,
            safetensors_dir,
            len(rows),
        )


def _run(
    cfg: TrainConfig,
    common: dict[str, Any],
    model: Any,
    tokenizer: Any,
    dataset: Any,
    peft_config: Any,
    callback: Any,
    bar: Any,
    resume: Path | None,
    start_step: int,
    device: str,
    bf16: bool,
    safetensors_dir: Path | None,
    n_rows: int,
) -> dict[str, Any]:
    trainer: Any
    if cfg.method == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(**common, packing=False, dataset_num_proc=None),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
    else:
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(**common, beta=cfg.beta, dataset_num_proc=None),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )

    from transformers.trainer_callback import PrinterCallback

    # With tqdm off the Trainer prints every log dict raw; train_log.jsonl and the bar say it
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(bar)
    t0 = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    finally:
        bar.close()  # a failed step must not leave the terminal in a live display
    wall = time.perf_counter() - t0
    # save_strategy "steps" also checkpoints the last step: a later run asking for more
    # steps resumes from there
    final_step = int(trainer.state.global_step)

    saved = _save_final(trainer, tokenizer, cfg, safetensors_dir)
    entries = read_log(cfg.out)
    losses = [e["loss"] for e in entries if "loss" in e]
    secs = callback.step_seconds
    summary: dict[str, Any] = {
        "method": cfg.method,
        "model": cfg.model,
        "base_path": str(safetensors_dir) if safetensors_dir else None,
        "lora": cfg.lora,
        "device": device,
        "bf16": bf16,
        "rows": n_rows,
        "resumed_from": str(resume) if resume else None,
        "start_step": start_step,
        "steps": final_step,
        "steps_this_run": final_step - start_step,
        "final_loss": losses[-1] if losses else None,
        "train_loss": float(result.training_loss) if result.training_loss is not None else None,
        "seconds_per_step": sum(secs) / len(secs) if secs else None,
        "wall_seconds": round(wall, 3),
        "saved_to": str(saved),
        "merged": saved.name == "final",
        "config": cfg.model_dump(mode="json"),
    }
    (cfg.out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _save_final(trainer: Any, tokenizer: Any, cfg: TrainConfig, base_dir: Path | None) -> Path:
    """Save a loadable model to ``out/final`` (LoRA merged in), or the adapter to ``adapter``."""
    model = trainer.model
    if cfg.lora and base_dir is None:
        target = cfg.out / "adapter"
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        return target
    target = cfg.out / "final"
    if cfg.lora:
        model = model.merge_and_unload()
    with contextlib.suppress(AttributeError):
        model.config.use_cache = True
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target
