"""Distil minted data into a student: SFT and DPO through TRL, with optional LoRA (PEFT).

torch, transformers, trl and peft are imported lazily: ``tracemint.train`` itself (the config
and the report's loss plot) imports without the ``[train]`` extra.
"""

from __future__ import annotations

from tracemint.train.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def __getattr__(name: str) -> object:
    if name == "train":
        from tracemint.train.trainer import train

        return train
    raise AttributeError(name)
