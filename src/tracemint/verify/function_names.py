"""Math function names both equivalence stages know: a leaf, so neither imports the other."""

from __future__ import annotations

# Names the sympy stage (symbolic.py) knows as functions; spelled out here so that
# importing the grader does not import sympy (0.4 s): integer and decimal answers, most of
# a GSM8K-style run, are decided before the sympy stage is ever reached.
FUNCTION_NAMES = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "sec",
        "csc",
        "cot",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "ln",
        "log",
        "exp",
    ]
)
