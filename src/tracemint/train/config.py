"""The settings of one ``tracemint train`` run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainConfig(BaseModel):
    """SFT or DPO on an exported file; ``model`` is ``"embedded"``, ``"tiny"`` or a path.

    ``"embedded"`` is the bundled SmolLM2-135M-Instruct (its cached safetensors copy, made once
    from the GGUF); ``"tiny"`` is a fresh small Llama with a tokenizer trained on the data
    (``tracemint.train.tiny``); a path is a local Hugging Face model directory (or a ``.gguf``
    file, which trains but cannot be merged: only the adapter is saved).
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["sft", "dpo"] = "sft"
    model: str = "embedded"
    out: Path = Path("train")
    lora: bool = True
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    #: PEFT's ``target_modules``: "all-linear" or a list of module names
    lora_target: str | list[str] = "all-linear"
    max_seq_len: int = Field(256, ge=8)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float | None = Field(None, gt=0.0)
    epochs: float = Field(1.0, gt=0.0)
    #: when set, overrides ``epochs``
    max_steps: int | None = Field(None, ge=1)
    warmup_steps: int = Field(0, ge=0)
    seed: int = 0
    #: bf16 mixed precision (autocast; master weights stay float32). None: on when the device
    #: supports it (CPUs with bf16 kernels, Ampere+ GPUs)
    bf16: bool | None = None
    save_steps: int = Field(50, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    #: DPO's temperature on the implicit reward
    beta: float = Field(0.1, gt=0.0)
    #: DPO: weight of a negative log-likelihood term on the chosen rationale (RPO, Pang et al.
    #: 2024, "Iterative Reasoning Preference Optimization", use 1). Plain DPO can lower the
    #: chosen rationale's likelihood while it widens the margin, and a student forgets what
    #: SFT taught it; the NLL term holds the chosen text up. 0: plain DPO
    nll_weight: float = Field(0.0, ge=0.0)
    #: SFT: which tokens the loss covers. "completion": the assistant's answer only (TRL's
    #: ``completion_only_loss``; ``messages`` rows are split into prompt and completion at the
    #: last assistant turn); "all": every token, system prompt and question included
    loss_on: Literal["completion", "all"] = "completion"

    @model_validator(mode="after")
    def _defaults(self) -> TrainConfig:
        if self.nll_weight and self.method != "dpo":
            raise ValueError("nll_weight is a DPO option (--method dpo)")
        if self.lr is None:
            # LoRA adapters want a larger step than full fine-tuning; DPO a smaller one
            base = 2e-4 if self.lora else 2e-5
            self.lr = base / 4 if self.method == "dpo" else base
        return self

    @property
    def learning_rate(self) -> float:
        assert self.lr is not None
        return self.lr
