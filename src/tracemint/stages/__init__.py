"""Pipeline stages: plain functions over batches of records.

Each stage takes a list of records and returns a list of records with more columns. They
hold no run state, so the local asyncio runner and a Ray runner (``map_batches``) can call
the same functions. Only the stages that talk to a teacher or the sandbox are async
(``sample``, ``execute``, ``rollout_labels``); the others are pure and cheap to test.

    problems --build_requests--> (record, request) --sample--> traces --[execute]-->
             --verify--> verdicts --check_steps--> step columns --consensus--> majority
             --select--> accepted  (--rollout_labels--> Monte-Carlo step labels)

Modules: ``sample.py`` (prompts, cached calls), ``calculator.py`` (the ``calculator``
strategy's ``<<expr>>`` placeholders evaluated and spliced in), ``grade.py`` (programs,
answers, steps, cross-checks), ``rollouts.py`` (Monte-Carlo labels), ``select.py``
(self-consistency, acceptance, thresholds, counts); ``check_refutations`` (the
``contrastive`` strategy's refutation of each wrong option) is ``verify/contrastive.py``.
"""

from tracemint.stages.calculator import calculate
from tracemint.stages.grade import check_steps, cross_check, execute, verify
from tracemint.stages.rollouts import rollout_labels
from tracemint.stages.sample import CachedCaller, Pair, build_requests, sample
from tracemint.stages.select import (
    apply_thresholds,
    consensus,
    count_verified,
    probe_sample,
    select,
    summarize,
)
from tracemint.verify.contrastive import check_refutations

__all__ = [
    "CachedCaller",
    "Pair",
    "apply_thresholds",
    "build_requests",
    "calculate",
    "check_refutations",
    "check_steps",
    "consensus",
    "count_verified",
    "cross_check",
    "execute",
    "probe_sample",
    "rollout_labels",
    "sample",
    "select",
    "summarize",
    "verify",
]
