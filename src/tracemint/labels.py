"""Human labels: a reviewer's accept/reject of single traces, kept beside the run's shards.

The sidecar is ``RUN/labels.jsonl``, one JSON object a line, appended and never rewritten::

    {"trace_id": "1f0c...", "label": "reject", "note": "skips the unit change",
     "time": "2026-12-05T11:42:07Z"}

* ``label`` is ``"accept"``, ``"reject"`` or ``"clear"`` (withdraws the trace's label).
* ``note`` is free text (may be empty), at most ``MAX_NOTE`` characters.
* The **last line for a trace wins**: relabelling appends, so the file is also the history
  of who-changed-their-mind, and a reader never needs a lock.

Why a sidecar and not a column: the shards are the pipeline's output, written atomically by
the runner and compared across runs; a person's judgement is a different kind of fact, made
later, and must survive re-running a stage. ``tracemint export`` reads it (see
``tracemint.export.export_run``): a ``reject`` removes the trace from every export, an
``accept`` exports a trace the pipeline did not accept (a human overriding the checks on
purpose; rows keep ``label``/``label_note``).

Appends are atomic: each label is one ``write`` of one line on a file opened ``O_APPEND``,
so concurrent writers interleave whole lines; a reader skips a torn last line (a writer
killed mid-write) instead of failing.

This module imports nothing from the package but ``errors``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracemint.errors import RunError

FILENAME = "labels.jsonl"
ACCEPT, REJECT, CLEAR = "accept", "reject", "clear"
LABELS = (ACCEPT, REJECT, CLEAR)
MAX_NOTE = 2000

_lock = threading.Lock()  # one writer at a time within a process (threads of the viewer)


@dataclass(frozen=True)
class Label:
    """One line of the sidecar."""

    trace_id: str
    label: str
    note: str = ""
    time: str = ""


def labels_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILENAME


def make_label(trace_id: str, label: str, note: str = "") -> Label:
    """A validated label stamped with the current UTC time; ValueError says what is wrong."""
    if not isinstance(trace_id, str) or not trace_id:
        raise ValueError("trace_id must be a non-empty string")
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
    if not isinstance(note, str):
        raise ValueError("note must be a string")
    if len(note) > MAX_NOTE:
        raise ValueError(f"note is longer than {MAX_NOTE} characters")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Label(trace_id, label, note.strip(), stamp)


def append_label(run_dir: str | Path, label: Label) -> None:
    """Append one label line atomically (one ``write`` on an ``O_APPEND`` file) and fsync."""
    line = (json.dumps(asdict(label), ensure_ascii=False) + "\n").encode("utf-8")
    path = labels_path(run_dir)
    with _lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):  # pragma: no cover - a full disk
                raise OSError(f"{path}: short write ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)


def read_labels(run_dir: str | Path) -> dict[str, Label]:
    """The current label of every labelled trace (last line wins; ``clear`` removes it).

    No sidecar means no labels. A line that is not a label fails loudly with its number,
    except a last line with no newline: that is a write cut short, and is skipped.
    """
    path = labels_path(run_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    out: dict[str, Label] = {}
    lines = data.split(b"\n")
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            label = Label(
                str(obj["trace_id"]), str(obj["label"]), str(obj.get("note") or ""),
                str(obj.get("time") or ""),
            )  # fmt: skip
            if label.label not in LABELS:
                raise ValueError(f"unknown label {label.label!r}")
        except (ValueError, KeyError, TypeError) as e:
            if n == len(lines):  # no newline after it: a torn append
                continue
            raise RunError(f"{path}:{n}: not a label line ({e})") from None
        if label.label == CLEAR:
            out.pop(label.trace_id, None)
        else:
            out[label.trace_id] = label
    return out
