"""Results of an experiment: mean and spread over seeds per condition, and the plot."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value), min, max and count."""
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize(runs: list[dict[str, Any]], order: list[str]) -> dict[str, Any]:
    """Per condition: ID/OOD accuracy spread over seeds and the mean training rows."""
    out: dict[str, Any] = {}
    for name in order:
        mine = [r for r in runs if r["condition"] == name]
        done = [r for r in mine if r.get("id_accuracy") is not None]
        out[name] = {
            "id": spread([r["id_accuracy"] for r in done]),
            "ood": spread([r["ood_accuracy"] for r in done]),
            "train_rows": spread([float(r["train_rows"]) for r in mine]),
            "seeds": [r["seed"] for r in mine],
            "seeds_without_rows": [r["seed"] for r in mine if r.get("id_accuracy") is None],
        }
    return out


def plot(
    summary: dict[str, Any],
    labels: dict[str, str],
    title: str,
    path: Path,
    baseline: dict[str, float] | None = None,
) -> Path:
    """Grouped bars (ID, OOD) per condition with one-std error bars; dashed lines mark the
    majority-answer baseline of each split (what a student ignoring the question gets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    width = 0.38
    for j, (split, colour) in enumerate((("id", "#4C72B0"), ("ood", "#DD8452"))):
        xs = [i + (j - 0.5) * width for i in range(len(names))]
        means = [summary[n][split]["mean"] or 0.0 for n in names]
        stds = [summary[n][split]["std"] or 0.0 for n in names]
        name = "in-distribution" if split == "id" else "out-of-distribution"
        ax.bar(xs, means, width, yerr=stds, capsize=3, color=colour, label=name)
        if baseline and split in baseline:
            ax.axhline(baseline[split], color=colour, linestyle="--", linewidth=1,
                       label=f"{name}: majority-answer baseline")  # fmt: skip
    ax.set_xticks(range(len(names)))
    wrapped = [labels.get(n, n).replace(", ", ",\n").replace(" + ", "\n+ ") for n in names]
    ax.set_xticklabels(wrapped, fontsize=7)
    ax.set_ylabel("accuracy (greedy, mean ± std over seeds)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.set_ylim(0, max(0.05, ax.get_ylim()[1]))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def table(summary: dict[str, Any], labels: dict[str, str]) -> str:
    """A Markdown table of the summary (what docs/results.md shows)."""
    lines = [
        "| condition | train rows | ID accuracy | OOD accuracy |",
        "|---|---|---|---|",
    ]
    for name, s in summary.items():

        def cell(x: dict[str, Any]) -> str:
            if x["mean"] is None:
                return "-"
            return f"{x['mean']:.3f} ± {x['std']:.3f}"

        lines.append(
            f"| {labels.get(name, name)} | {s['train_rows']['mean']:.0f} | {cell(s['id'])} | "
            f"{cell(s['ood'])} |"
        )
    return "\n".join(lines)


def title_of(result: dict[str, Any]) -> str:
    setup = result["setup"]
    seeds = len(result.get("seeds_done", setup["seeds"]))
    ood_knobs = dict(setup.get("ood_knobs") or {})
    if ood_knobs.pop("split", None) == "heldout":  # the compositional split (same length)
        ood = f"held-out compositions, difficulty {setup['ood_difficulty']}"
    else:
        ood = f"{setup['ood_difficulty']} {ood_knobs or ''}".strip()
    return (
        f"{setup['family']}: ID difficulty {setup['id_difficulty']}, OOD {ood}; "
        f"noise {setup['noise']}, {setup['steps']} steps, {seeds} seeds"
    )


def main() -> None:
    """``python experiments/report.py RESULTS.json ...``: print each results file's Markdown
    table and redraw its plot (``RESULTS.png``)."""
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import CONDITIONS

    labels = {c.name: c.label for c in CONDITIONS}
    for path in map(Path, sys.argv[1:]):
        result = json.loads(path.read_text(encoding="utf-8"))
        print(f"### {result['experiment']} ({result['wall_seconds'] / 60:.1f} min)\n")
        print(table(result["conditions"], labels))
        print(f"\nmajority-answer baseline: {result.get('majority_baseline')}\n")
        baseline = result.get("majority_baseline")
        plot(result["conditions"], labels, title_of(result), path.with_suffix(".png"), baseline)


if __name__ == "__main__":
    main()
