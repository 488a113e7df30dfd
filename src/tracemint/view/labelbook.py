"""The viewer's view of the run's label sidecar (``tracemint.labels``), kept current.

The sidecar is re-read whenever its size or modification time changes, so labels written by
another viewer of the same run (or by hand) show up without a restart, and a request never
pays for parsing an unchanged file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tracemint.labels import Label, append_label, labels_path, read_labels


class LabelBook:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._stamp: tuple[int, int] | None = None
        self._labels: dict[str, Label] = {}
        self._lock = threading.Lock()

    def current(self) -> dict[str, Label]:
        """trace_id -> its current label (the last one written)."""
        try:
            st = labels_path(self.run_dir).stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._labels = read_labels(self.run_dir) if stamp else {}
                self._stamp = stamp
            return self._labels

    def add(self, label: Label) -> None:
        append_label(self.run_dir, label)
