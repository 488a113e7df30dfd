"""``tracemint eval``: sample k answers per problem with the normal runner, then score them.

An evaluation is an ordinary run (same sampling, cache, verify stage, Parquet shards,
manifest) with ``select.keep = "all"`` and exactly ``k`` samples per problem; the metrics
are computed from the stored traces and written to ``RUN/eval.json`` (+ ``eval.png``).
Because the verdicts are the verify stage's, evaluation agrees with ``tracemint run`` and,
on benchmark files, with ``tracemint verify`` on the same completions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracemint.config import Recipe, parse_recipe
from tracemint.evaluate.metrics import compute
from tracemint.store import RunStore, atomic_write_json
from tracemint.teachers.base import Teacher

EVAL_FILE = "eval.json"
PLOT_FILE = "eval.png"

# the trace columns the metrics read
_COLUMNS = ["problem_id", "sample_index", "metadata", "answer", "verdict"]


def eval_recipe(
    name: str,
    source: dict[str, Any],
    teacher: dict[str, Any],
    *,
    k: int = 4,
    temperature: float = 0.7,
    max_tokens: int = 256,
    seed: int = 0,
    runs_dir: str | Path = "runs",
    steps: bool = False,
    strategy: str = "cot",
) -> Recipe:
    """Build (and validate) the recipe of an evaluation run."""
    data: dict[str, Any] = {
        "name": name,
        "runs_dir": str(runs_dir),
        "source": source,
        "teacher": teacher,
        "strategy": {"name": strategy},
        "verify": {"steps": steps},
        "sampling": {"temperature": temperature, "max_tokens": max_tokens, "seed": seed},
        "budget": {"samples": k},
        "select": {"keep": "all", "reject_wrong_steps": False},
    }
    return parse_recipe(data, where=f"eval {name}")


def as_eval_recipe(recipe: Recipe, k: int | None = None) -> Recipe:
    """A recipe turned into an evaluation: exactly ``k`` samples, every trace kept, no
    rejection sampling, rollouts, probes or curation (they would change what is scored)."""
    k = k or recipe.budget.samples
    return recipe.model_copy(
        update={
            "budget": recipe.budget.model_copy(update={"samples": k, "k_verified": 0}),
            "select": recipe.select.model_copy(
                update={"keep": "all", "reject_wrong_steps": False, "min_columns": {}}
            ),
            "montecarlo": recipe.montecarlo.model_copy(update={"enabled": False}),
            "probes": recipe.probes.model_copy(update={"names": []}),
        }
    )


def score_run(run_dir: str | Path, k: int) -> dict[str, Any]:
    """Metrics of a finished run's traces (``k``: samples per problem); writes nothing."""
    store = RunStore(run_dir)
    table = store.read_traces(columns=_COLUMNS)
    return compute(table.to_pylist(), k)


def evaluate(
    recipe: Recipe,
    *,
    k: int | None = None,
    progress: bool = False,
    fresh: bool = False,
    teacher: Teacher | None = None,
    plot: bool = True,
) -> dict[str, Any]:
    """Run ``recipe`` as an evaluation and return (and write) its metrics.

    A rerun of the same evaluation resumes: problems already sampled are not redone and
    every finished call comes from the cache. ``fresh`` redoes the traces (cache kept).
    """
    from tracemint.evaluate.progress import EvalRunner  # its bar shows accuracy, not "accepted"

    recipe = as_eval_recipe(recipe, k)
    k = recipe.budget.samples
    runner = EvalRunner(recipe, resume=not fresh, fresh=fresh, progress=progress, teacher=teacher)
    runner.run()
    run_dir = recipe.run_dir()
    result = score_run(run_dir, k)
    result["run"] = str(run_dir)
    result["teacher"] = {"type": recipe.teacher.type, **recipe.teacher.options()}
    result["source"] = {"type": recipe.source.type, **recipe.source.options()}
    result["sampling"] = recipe.sampling.model_dump()
    atomic_write_json(Path(run_dir) / EVAL_FILE, result)
    if plot and result["problems"]:
        from tracemint.evaluate.report import write_plot

        write_plot(result, Path(run_dir) / PLOT_FILE)
    return result


def family_problems(
    family: str,
    difficulties: list[Any],
    n: int,
    seed: int,
    knobs: dict[str, Any],
    path: Path,
) -> Path:
    """Write ``n`` problems per difficulty of a family to one JSONL (a file source reads
    it; each row keeps its family and config, so the family check and the difficulty
    breakdown apply). Ids name the difficulty, so they stay unique."""
    import json
    import os

    from tracemint.synth.base import create_family
    from tracemint.synth.base import generate as draw
    from tracemint.synth.records import item_row

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for d in difficulties:
            fam = create_family(family, {**knobs, "difficulty": d})
            for i, item in enumerate(draw(fam, n, seed)):
                row = item_row(fam, item, i, seed)
                row["id"] = f"{family}-d{d}-{seed}-{i}"
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path
