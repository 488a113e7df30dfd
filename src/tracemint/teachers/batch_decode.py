"""Batched greedy/top-p decoding with a KV cache, one set of sampling settings per row.

Why not ``model.generate``: it takes one generation config and one random generator per
call, so a batch could only hold requests with identical temperature, top_p and
max_tokens, and a row's samples would depend on its batch neighbours. Here every row has
its own settings, its own seeded ``torch.Generator``, its own stop test, and leaves the
batch (and the KV cache) as soon as it finishes.

torch and transformers are imported inside the functions, like everywhere in tracemint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracemint.teachers.base import GenerationRequest

#: decides, after each new token, whether a row is done: "stop", "length" or None
FinishTest = Callable[[list[int], GenerationRequest], "str | None"]


@dataclass
class DecodedRow:
    """What decoding produced for one prompt."""

    tokens: list[int]  # generated ids, the terminating one included
    finish_reason: str
    done_at: float  # time.perf_counter() when the row finished


def decode_batch(
    model: Any,
    prompts: list[list[int]],
    requests: list[GenerationRequest],
    *,
    pad_id: int,
    finished: FinishTest,
) -> list[DecodedRow]:
    """Decode all prompts together; one ``DecodedRow`` per prompt, in order.

    ``finished`` must eventually say yes for every row (it enforces max_tokens).
    """
    import torch
    from transformers import DynamicCache

    width = max(len(p) for p in prompts)
    # LEFT padding: every row's last real token sits in the last column, so the next
    # token always comes from position -1; position ids count real tokens only, so a
    # padded row is computed as it would be alone (exactly so in float32).
    input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = [
        torch.Generator().manual_seed(row_seed(r)) if r.temperature > 0 else None for r in requests
    ]
    cache = DynamicCache(config=model.config)
    out: list[list[int]] = [[] for _ in prompts]
    rows: list[DecodedRow | None] = [None] * len(prompts)
    alive = list(range(len(prompts)))
    with torch.inference_mode():
        logits = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            # Only the last position's logits: the full (batch x prompt x 49k-vocab)
            # projection would cost more than the whole rest of the prefill.
            logits_to_keep=1,
        ).logits[:, -1, :]
        while True:
            nxt = pick_next(logits, [requests[r] for r in alive], [generators[r] for r in alive])
            keep = []
            for j, (r, token) in enumerate(zip(alive, nxt.tolist(), strict=True)):
                out[r].append(token)
                reason = finished(out[r], requests[r])
                if reason is None:
                    keep.append(j)
                else:
                    rows[r] = DecodedRow(out[r], reason, time.perf_counter())
            if not keep:
                break
            if len(keep) < len(alive):  # finished rows stop costing compute
                idx = torch.tensor(keep)
                cache.batch_select_indices(idx)
                mask, positions, nxt = mask[idx], positions[idx], nxt[idx]
                alive = [alive[j] for j in keep]
            mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
            positions = positions[:, -1:] + 1
            logits = model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits[:, -1, :]
    return [r for r in rows if r is not None]


def row_seed(request: GenerationRequest) -> int:
    """The row's sampling seed: the request's, else its sample index (still deterministic)."""
    seed = request.seed if request.seed is not None else request.sample_index
    return seed & 0x7FFF_FFFF_FFFF_FFFF  # torch.Generator takes non-negative 64-bit seeds


def pick_next(logits: Any, requests: list[GenerationRequest], generators: list[Any]) -> Any:
    """Next token per row: argmax for greedy rows, seeded top-p sampling for the others.

    The sampled rows are handled as one batch (one sort, one cumsum); only the uniform draw
    is per row, from the row's own generator, so a row's choice does not depend on which
    other rows share its batch.
    """
    import torch

    nxt = logits.argmax(-1)
    sampled = [j for j, gen in enumerate(generators) if gen is not None]
    if not sampled:
        return nxt
    idx = torch.tensor(sampled)
    temps = torch.tensor([[requests[j].temperature] for j in sampled])
    top_p = torch.tensor([[requests[j].top_p] for j in sampled])
    probs = torch.softmax(logits[idx].float() / temps, dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    # drop a token once the mass before it already reaches top_p; always keep the top one
    drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
    drop[:, 0] = False
    cdf = sorted_p.masked_fill(drop, 0.0).cumsum(-1)
    u = torch.cat([torch.rand(1, generator=generators[j]) for j in sampled])[:, None]
    pos = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=cdf.shape[1] - 1)
    nxt[idx] = order.gather(1, pos).squeeze(1)
    return nxt
