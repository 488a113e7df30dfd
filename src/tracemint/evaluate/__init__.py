"""Evaluation: any teacher on a benchmark file or a generated family (docs/eval.md).

Public API::

    evaluate(recipe, *, k=None, progress=False, fresh=False) -> dict   # runs, writes eval.json
    eval_recipe(name, source, teacher, *, k, temperature, max_tokens, ...) -> Recipe
    score_run(run_dir, k) -> dict                                      # metrics only
    pass_at_k(n, c, k), majority_correct(samples, k), difficulty_of(problem)
    eval_section(run_dir) -> str                                       # HTML for report.html
"""

from __future__ import annotations

from tracemint.evaluate.metrics import compute, difficulty_of, majority_correct, pass_at_k
from tracemint.evaluate.report import eval_section
from tracemint.evaluate.run import eval_recipe, evaluate, score_run

__all__ = [
    "compute",
    "difficulty_of",
    "eval_recipe",
    "eval_section",
    "evaluate",
    "majority_correct",
    "pass_at_k",
    "score_run",
]
