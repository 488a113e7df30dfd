"""Fine-tune a student on exported data with TRL: SFT on conversations, DPO on pairs.

SFT trains on the completion only by default (``TrainConfig.loss_on``): the student learns
to answer, not to reproduce the system prompt and the question (see ``rows.sft_layout``).

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
from tracemint.train.callbacks import log_callback, progress_callback
from tracemint.train.config import TrainConfig
from tracemint.train.resume import last_checkpoint, read_log, trim_log
from tracemint.train.rows import load_rows, sft_layout
from tracemint.train.student import load_base, save_final

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


def require_train() -> None:
    """Fail early, with the install hint, when the ``[train]`` extra is missing."""
    for mod in ("torch", "transformers", "trl", "peft", "datasets"):
        if importlib.util.find_spec(mod) is None:
            raise missing("train", "torch, transformers, trl, peft and datasets")


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
    if cfg.method == "sft":
        rows = sft_layout(rows, cfg.loss_on)
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
        trim_log(log_path, start_step)
        log.info("resuming from %s (step %d)", resume, start_step)
    else:
        log_path.unlink(missing_ok=True)
    callback = log_callback(log_path)
    bar = progress_callback(progress)

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


def dpo_drift(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """How DPO moved the chosen and rejected rationales' log-probabilities (first and last
    logged step, summed over a completion's tokens, batch mean). Why: a widening margin can
    hide a falling chosen likelihood ("likelihood displacement"), and a student whose chosen
    rationales became far less likely has unlearned what SFT taught it."""
    logged = [e for e in entries if "logps/chosen" in e and "logps/rejected" in e]
    if not logged:
        return {}
    first, last = logged[0], logged[-1]
    return {
        "chosen_logps": [first["logps/chosen"], last["logps/chosen"]],
        "rejected_logps": [first["logps/rejected"], last["logps/rejected"]],
        "reward_accuracy": last.get("rewards/accuracies"),
    }


def _dpo_losses(cfg: TrainConfig) -> dict[str, Any]:
    """TRL's loss mix: the sigmoid DPO loss, plus NLL on the chosen side when asked (RPO)."""
    if not cfg.nll_weight:
        return {}
    return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, cfg.nll_weight]}


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
            args=SFTConfig(
                **common,
                packing=False,
                dataset_num_proc=None,
                # explicit, not TRL's "depends on the layout": loss_on decides
                completion_only_loss=cfg.loss_on == "completion",
            ),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
    else:
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(**common, beta=cfg.beta, dataset_num_proc=None, **_dpo_losses(cfg)),
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

    saved = save_final(trainer, tokenizer, cfg, safetensors_dir)
    entries = read_log(cfg.out)
    losses = [e["loss"] for e in entries if "loss" in e]
    secs = callback.step_seconds
    summary: dict[str, Any] = {
        "method": cfg.method,
        "model": cfg.model,
        "base_path": str(safetensors_dir) if safetensors_dir else None,
        "lora": cfg.lora,
        "loss_on": cfg.loss_on if cfg.method == "sft" else None,
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
    if cfg.method == "dpo":
        summary["dpo"] = dpo_drift(entries)
    (cfg.out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
