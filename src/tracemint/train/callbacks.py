"""The Trainer callbacks: ``train_log.jsonl`` (with seconds per step) and the progress bar.

Built inside functions because ``transformers.TrainerCallback`` is only there with the
``[train]`` extra; this module imports without it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def log_callback(log_path: Path) -> Any:
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):  # type: ignore[misc]
        """Appends each logged step to ``train_log.jsonl`` and times the optimizer steps."""

        def __init__(self) -> None:
            self.step_seconds: list[float] = []
            self._t0: float | None = None
            self._last: float | None = None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self._t0 is None:
                self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            now = time.perf_counter()
            if self._t0 is not None:
                self.step_seconds.append(now - self._t0)
                self._last = now - self._t0
            self._t0 = None

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or not any(k in logs for k in ("loss", "train_loss")):
                return
            if "train_loss" in logs:  # the end-of-training aggregate goes to the summary
                return
            entry: dict[str, Any] = {"step": state.global_step}
            for k, v in logs.items():
                key = "lr" if k == "learning_rate" else k
                entry[key] = float(v) if isinstance(v, int | float) else v
            if self._last is not None:
                entry["step_seconds"] = round(self._last, 4)
            entry["time"] = time.time()
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    return LossLog()


def progress_callback(enabled: bool) -> Any:
    """A TrainerCallback that draws one rich progress line on stderr: steps, loss, ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):  # type: ignore[misc]
        """Steps done of ``max_steps`` (a resumed run starts where it stopped), last loss."""

        def __init__(self) -> None:
            self.progress = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps  loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                disable=not enabled,
            )
            self.task: TaskID | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=state.max_steps or None, completed=state.global_step, loss="-"
            )

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.task is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if self.task is not None and logs and isinstance(logs.get("loss"), int | float):
                self.progress.update(self.task, loss=f"{logs['loss']:.4f}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.close()

        def close(self) -> None:
            self.progress.stop()

    return RichProgress()
