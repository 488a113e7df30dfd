"""The evaluation's plot and its section of ``report.html``.

``eval_section(run_dir)`` returns "" for a run that is not an evaluation (no ``eval.json``),
so the report can call it for every run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from tracemint.store import atomic_write_bytes


def metric_names(result: dict[str, Any]) -> list[str]:
    """The table's metric columns: accuracy, maj@k, pass@1, ..., pass@k."""
    k = int(result["k"])
    passes = sorted(
        (m for m in result["overall"] if m.startswith("pass@")), key=lambda m: int(m[5:])
    )
    return ["accuracy", f"maj@{k}", *passes]


def _figure(result: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = int(result["k"])
    groups = dict(result["by_difficulty"])
    if len(groups) > 1:
        groups["overall"] = result["overall"]
    names = list(groups)
    metrics = ["accuracy", f"maj@{k}", f"pass@{k}"]
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(names) + 2), 3))
    for i, m in enumerate(metrics):
        xs = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, [groups[n].get(m, 0.0) for n in names], width, label=m)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("difficulty")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"accuracy, maj@{k} and pass@{k} by difficulty")
    ax.legend(fontsize="small")
    return fig


def plot_png(result: dict[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    fig = _figure(result)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_plot(result: dict[str, Any], path: Path) -> Path:
    atomic_write_bytes(path, plot_png(result))
    return path


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)


def eval_section(run_dir: str | Path) -> str:
    """An HTML section (table + inline plot) for an evaluation run; "" for other runs."""
    path = Path(run_dir) / "eval.json"
    if not path.exists():
        return ""
    result = json.loads(path.read_text(encoding="utf-8"))
    metrics = metric_names(result)
    head = "".join(
        f"<th>{html.escape(h)}</th>" for h in ("difficulty", "problems", "samples", *metrics)
    )
    groups = [*result["by_difficulty"].items(), ("overall", result["overall"])]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_fmt(v))}</td>"
            for v in (name, g["problems"], g["samples"], *(g.get(m, "") for m in metrics))
        )
        + "</tr>"
        for name, g in groups
    )
    img = ""
    if result["overall"]["problems"]:
        png = base64.b64encode(plot_png(result)).decode()
        img = f'<figure><img alt="eval" src="data:image/png;base64,{png}"></figure>'
    return (
        f"<h2>Evaluation (k = {int(result['k'])})</h2>"
        "<p>accuracy: correct samples / all samples; pass@k: unbiased estimator "
        "(Chen et al. 2021); maj@k: the majority answer of the first k samples is correct.</p>"
        f"<table><tr>{head}</tr>{rows}</table>{img}"
    )
