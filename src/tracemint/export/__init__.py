"""Exporters: traces -> training-ready files (SFT, preference pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracemint.export import preference, process, sft  # noqa: F401 - registers built-ins
from tracemint.export.base import Exporter, exporters
from tracemint.store import RunStore

__all__ = ["Exporter", "export_run", "exporters"]


def export_run(
    run_dir: str | Path,
    formats: list[str],
    out_dir: str | Path | None = None,
    file_types: tuple[str, ...] = ("jsonl", "parquet"),
    system_prompt: str | None = None,
    max_pairs_per_problem: int = 4,
) -> dict[str, Any]:
    """Export a run's traces in each format; returns {format: {rows, files}}."""
    store = RunStore(run_dir)
    store.read_manifest()  # fails clearly on a directory that is not a run
    target = Path(out_dir) if out_dir is not None else store.export_dir
    results = {}
    for fmt in formats:
        exporter = exporters.get(fmt)(
            system_prompt=system_prompt, max_pairs_per_problem=max_pairs_per_problem
        )
        traces = (t for batch in store.iter_traces() for t in batch)
        results[fmt] = exporter.write(traces, target, file_types)
    return results
