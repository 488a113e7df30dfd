"""The rows a student trains on: the TRL columns of an exported file, checked up front.

Read before the ``[train]`` extra is even looked for: a wrong file is the commoner mistake,
and saying so needs no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_SFT_LAYOUTS: tuple[tuple[str, ...], ...] = (("messages",), ("prompt", "completion"), ("text",))
_DPO_COLUMNS = ("prompt", "chosen", "rejected")


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
