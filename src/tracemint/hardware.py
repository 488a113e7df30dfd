"""What this machine can do fast, decided once: code that picks a dtype asks here.

bfloat16 halves memory traffic, but on a CPU without native bf16 instructions (AVX512-BF16 or
AMX) PyTorch emulates it: measured on an AVX2-only EPYC, SmolLM2-135M decodes ~2.5x and
prefills ~4x slower in bf16 than in float32, and LoRA training steps are ~4x slower.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when bf16 math runs natively: a CUDA device with bf16, or a CPU with AVX512-BF16
    or AMX tiles."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_dtype(dtype: str) -> str:
    """ "auto" -> "bfloat16" where it is native, else "float32"; other names pass through."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bf16() else "float32"
