"""The student's weights: the base model it starts from and the trained model it ends as.

Kept apart from the training loop because where a model comes from (a folder, a GGUF file,
the bundled embedded model, a fresh "tiny" student) decides how it can be saved: weights read
straight from a GGUF have no safetensors folder to merge LoRA into, so only the adapter is kept.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from tracemint.errors import ConfigError
from tracemint.train.config import TrainConfig
from tracemint.train.rows import texts


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
                texts(rows), folder, max_len=max(512, cfg.max_seq_len), seed=cfg.seed
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


def save_final(trainer: Any, tokenizer: Any, cfg: TrainConfig, base_dir: Path | None) -> Path:
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
