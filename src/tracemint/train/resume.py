"""What an earlier run left in ``out``: its last checkpoint, and its log trimmed to match.

A run that crashed between two saves logged steps its checkpoint does not hold; resuming
replays them, so those lines go, and the log never repeats a step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def trim_log(log_path: Path, upto: int) -> None:
    """Drop lines logged after the checkpoint we resume from (a crash between saves)."""
    if not log_path.exists():
        return
    keep = [
        line
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= upto
    ]
    log_path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def read_log(out: Path) -> list[dict[str, Any]]:
    """The lines of ``out/train_log.jsonl`` (empty when there is none)."""
    path = out / "train_log.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def last_checkpoint(out: Path) -> Path | None:
    """The ``checkpoint-N`` with the highest N that holds a trainer state."""
    best: tuple[int, Path] | None = None
    if out.is_dir():
        for d in out.iterdir():
            m = re.fullmatch(r"checkpoint-(\d+)", d.name)
            if m and d.is_dir() and (d / "trainer_state.json").exists():
                n = int(m.group(1))
                if best is None or n > best[0]:
                    best = (n, d)
    return best[1] if best else None
