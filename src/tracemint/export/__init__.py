"""Exporters: traces -> training-ready files (SFT, preference pairs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tracemint import labels as human
from tracemint.export import preference, process, sft  # noqa: F401 - registers built-ins
from tracemint.export.base import Exporter, exporters
from tracemint.records import Record
from tracemint.store import RunStore

__all__ = ["Exporter", "export_run", "exporters"]

# Row keys that name a trace, and the prefix of the label keys added beside them.
_TRACE_KEYS = {"trace_id": "", "chosen_trace_id": "chosen_", "rejected_trace_id": "rejected_"}


def export_run(
    run_dir: str | Path,
    formats: list[str],
    out_dir: str | Path | None = None,
    file_types: tuple[str, ...] = ("jsonl", "parquet"),
    system_prompt: str | None = None,
    max_pairs_per_problem: int = 4,
) -> dict[str, Any]:
    """Export a run's traces in each format; returns {format: {rows, files}}.

    Human labels (``RUN/labels.jsonl``, see ``tracemint.labels``) are applied first, on
    purpose over the pipeline's verdicts: a ``reject`` removes the trace from every format,
    an ``accept`` marks it accepted even where selection dropped it. Rows built from a
    labelled trace carry ``label`` and ``label_note`` (``chosen_label``... for pairs), so
    a human override stays visible in the training file.
    """
    store = RunStore(run_dir)
    store.read_manifest()  # fails clearly on a directory that is not a run
    target = Path(out_dir) if out_dir is not None else store.export_dir
    labels = human.read_labels(store.root)
    results = {}
    for fmt in formats:
        exporter = exporters.get(fmt)(
            system_prompt=system_prompt, max_pairs_per_problem=max_pairs_per_problem
        )
        if labels:
            # An instance attribute, so the exporter class (another module's) stays as is.
            setattr(exporter, "rows", _labelled_rows(exporter.rows, labels))  # noqa: B010
        traces = (t for batch in store.iter_traces() for t in batch)
        results[fmt] = exporter.write(_apply_labels(traces, labels), target, file_types)
    return results


def _apply_labels(traces: Iterable[Record], labels: dict[str, human.Label]) -> Iterator[Record]:
    """Drop human-rejected traces; mark human-accepted ones accepted, with the note."""
    for t in traces:
        label = labels.get(t.get("trace_id") or "")
        if label is None:
            yield t
        elif label.label == human.ACCEPT:
            yield {**t, "accepted": True, "drop_reason": None,
                   "label": label.label, "label_note": label.note}  # fmt: skip
        # a human reject: in no export at all


def _labelled_rows(rows: Any, labels: dict[str, human.Label]) -> Any:
    """Wrap ``Exporter.rows`` so each row names the human label of the traces it came from."""

    def wrapped(traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        for row in rows(traces):
            for key, prefix in _TRACE_KEYS.items():
                if key not in row:
                    continue
                # Every row gets the keys (null when unlabelled), so every file of the export
                # has the label columns, whichever rows happen to be labelled.
                label = labels.get(row[key] or "")
                row.setdefault(prefix + "label", label.label if label else None)
                row.setdefault(prefix + "label_note", label.note if label else None)
            yield row

    return wrapped
