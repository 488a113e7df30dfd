"""The ``local`` teacher: any Hugging Face model directory on this machine, decoded like
the embedded teacher (one worker thread, batched, left-padded, per-row sampling).

Point it at a checkpoint written by ``tracemint train`` or any ``save_pretrained``
directory (model + tokenizer). A tokenizer without a chat template gets ChatML.

Its identity names the directory and a hash of its weight and config files, so a
retrained checkpoint at the same path never answers from a stale cache entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracemint.errors import ConfigError, missing
from tracemint.hardware import resolve_dtype
from tracemint.teachers import gguf_cache
from tracemint.teachers.base import teachers
from tracemint.teachers.embedded import EmbeddedTeacher

# What decides the outputs: the weights, the architecture and the tokenizer. Optimizer and
# scheduler states in a training checkpoint do not, and can be large: they are not hashed.
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_HASHED_NAMES = frozenset(
    {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "vocab.json",
        "merges.txt",
        "tokenizer.model",
    }
)
_SKIPPED_NAMES = frozenset({"training_args.bin", "optimizer.bin", "scheduler.bin"})


class LocalTeacherConfig(BaseModel):
    """Settings for a local model directory; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    path: Path  # a save_pretrained directory (config.json, weights, tokenizer)
    model: str | None = Field(None, min_length=1)  # name in traces; None: the directory name
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"  # see EmbeddedTeacherConfig
    batch_size: int = Field(32, ge=1)
    threads: int | None = Field(None, ge=1)  # torch intra-op threads; None: torch's default


def weight_files(folder: Path) -> list[Path]:
    """The files whose content decides what the model generates (sorted by name)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name not in _SKIPPED_NAMES
        and (p.suffix in _WEIGHT_SUFFIXES or p.name in _HASHED_NAMES)
    )


def weights_hash(folder: Path) -> str:
    """sha256 over the names and full contents of ``weight_files`` (16 hex digits)."""
    h = hashlib.sha256()
    for p in weight_files(folder):
        h.update(f"{p.name}\0{p.stat().st_size}\0".encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


@teachers.register("local")
class LocalTeacher(EmbeddedTeacher):
    """A local HF model directory, batched on one background thread like ``embedded``."""

    name = "local"
    config_class = LocalTeacherConfig  # type: ignore[assignment]

    def __init__(self, config: LocalTeacherConfig) -> None:  # type: ignore[override]
        for mod in ("torch", "transformers"):
            if importlib.util.find_spec(mod) is None:
                raise missing("local", "torch and transformers")
        self.config = config  # type: ignore[assignment]
        self.path = config.path.expanduser().resolve()
        if not (self.path / "config.json").is_file():
            raise ConfigError(
                f"teacher.path: {self.path} is not a model directory (no config.json); "
                "give a directory written by save_pretrained or `tracemint train`"
            )
        if not any(p.suffix in _WEIGHT_SUFFIXES for p in weight_files(self.path)):
            raise ConfigError(f"teacher.path: no weights (*.safetensors, *.bin) in {self.path}")
        # computed now: identity() keys the cache even when the model is never loaded
        self.fingerprint = weights_hash(self.path)
        self.dtype = resolve_dtype(config.dtype)
        self._init_worker()

    @property
    def model(self) -> str:
        return self.config.model or self.path.name

    def identity(self) -> dict[str, Any]:
        return {
            "teacher": self.name,
            "model": self.model,
            "path": str(self.path),
            "dtype": self.dtype,
            "weights": self.fingerprint,
        }

    def _load_weights(self) -> tuple[Any, Any]:
        with gguf_cache.quiet_progress_bars():
            try:
                return gguf_cache.load_cached(self.path, self.dtype)
            except (OSError, ValueError, KeyError) as e:
                raise ConfigError(f"cannot load the model at {self.path}: {e}") from e
