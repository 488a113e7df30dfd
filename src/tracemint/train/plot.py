"""Loss curves of ``tracemint train`` runs, for the run report.

``train_section(run_dir)`` is the report's hook: the HTML for every training directory under
``run_dir/train`` (``train/train_log.jsonl`` itself, or ``train/*/train_log.jsonl`` for
several runs, e.g. ``train/sft`` and ``train/dpo``), or ``""`` when there is none. Only
matplotlib is needed (no torch).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
    return rows


def loss_plot(train_dir: Path) -> str:
    """A base64 PNG of loss (and learning rate) against step from ``train_log.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [e for e in _read_jsonl(Path(train_dir) / "train_log.jsonl") if "loss" in e]
    steps = [e["step"] for e in entries]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    try:
        ax.plot(steps, [e["loss"] for e in entries], marker="." if len(steps) < 50 else None)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"training loss: {Path(train_dir).name}")
        ax.grid(alpha=0.3)
        if any("lr" in e for e in entries):
            ax2 = ax.twinx()
            ax2.plot(
                steps,
                [float(e.get("lr") or 0.0) for e in entries],
                color="tab:orange",
                alpha=0.5,
                lw=1,
            )
            ax2.set_ylabel("learning rate", color="tab:orange")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def train_dirs(run_dir: Path) -> list[Path]:
    """``run_dir/train`` and its subfolders that hold a ``train_log.jsonl``."""
    root = Path(run_dir) / "train"
    if not root.is_dir():
        return []
    found = [root] if (root / "train_log.jsonl").is_file() else []
    found += sorted(d for d in root.iterdir() if (d / "train_log.jsonl").is_file())
    return found


def _summary_rows(train_dir: Path) -> str:
    path = train_dir / "train_summary.json"
    if not path.is_file():
        return ""
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return ""
    keys = (
        "method",
        "model",
        "lora",
        "device",
        "steps",
        "final_loss",
        "seconds_per_step",
        "saved_to",
    )
    cells = []
    for k in keys:
        v = s.get(k)
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        cells.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(text)}</td></tr>")
    return f"<table>{''.join(cells)}</table>"


def train_section(run_dir: Path) -> str:
    """The report's "Training" section (loss curves and summaries), or "" without training."""
    parts = []
    for d in train_dirs(run_dir):
        if not any("loss" in e for e in _read_jsonl(d / "train_log.jsonl")):
            continue
        name = html.escape(str(d.relative_to(Path(run_dir))))
        parts.append(
            f"<h3><code>{name}</code></h3>{_summary_rows(d)}"
            f'<figure><img alt="loss curve {name}" '
            f'src="data:image/png;base64,{loss_plot(d)}"></figure>'
        )
    if not parts:
        return ""
    return "<h2>Training</h2>" + "".join(parts)
