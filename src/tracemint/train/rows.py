"""The rows a student trains on: the TRL columns of an exported file, checked up front.

Read before the ``[train]`` extra is even looked for: a wrong file is the commoner mistake,
and saying so needs no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracemint.errors import ConfigError

_SFT_LAYOUTS: tuple[tuple[str, ...], ...] = (("prompt", "completion"), ("messages",), ("text",))
_DPO_COLUMNS = ("prompt", "chosen", "rejected")


def load_rows(path: Path, method: str) -> list[dict[str, Any]]:
    """The TRL columns of an exported file (provenance columns are dropped).

    Export writes JSONL and Parquet, so both are read (and JSON, CSV, Arrow: the shared
    ``RowReader``, whose errors name the file, the line or row, and the field). SFT rows are
    ``prompt``/``completion`` (what ``tracemint export --format sft`` writes), or ``messages``
    (``--format sft_messages``), or ``text``; DPO rows are ``prompt``/``chosen``/``rejected``.
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


def texts(rows: list[dict[str, Any]]) -> list[str]:
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


def sft_layout(rows: list[dict[str, Any]], loss_on: str) -> list[dict[str, Any]]:
    """SFT rows in the layout TRL trains the way ``loss_on`` asks.

    ``"completion"``: ``prompt``/``completion`` rows, which TRL's ``SFTTrainer`` trains on
    the completion only. A ``messages`` row (``tracemint export --format sft_messages``, or
    an export from before prompt-completion was the default) is split at its last assistant
    turn, so it is masked the same way: TRL's other route, ``assistant_only_loss``, needs
    generation markers in the chat template, which SmolLM2's (and most small models') lack.
    ``text`` rows have no prompt to mask, so they are refused rather than silently trained
    on every token. ``"all"``: the rows as they are, trained on every token.
    """
    if loss_on == "all" or not rows or "prompt" in rows[0]:
        return rows
    if "text" in rows[0]:
        raise ConfigError(
            "text rows have no prompt and completion to tell apart: train them with "
            "--loss-on all, or export prompt/completion rows (tracemint export --format sft)"
        )
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        msgs = list(row["messages"])
        if not msgs or not isinstance(msgs[-1], dict) or msgs[-1].get("role") != "assistant":
            raise ConfigError(
                f"row {i + 1}: the last message is not the assistant's, so there is no "
                "completion to train on; train with --loss-on all"
            )
        out.append({"prompt": msgs[:-1], "completion": msgs[-1:]})
    return out
