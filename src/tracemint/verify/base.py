"""The Verifier seam: one method that adds verdict columns to a batch of records.

Every place that judges a rationale (a run's verify and check_steps stages, ``tracemint
verify`` on a user's file) goes through registered verifiers, so the same rationale gets
the same columns and the same verdict wherever it is judged. A verifier is a batch
function, like a stage, so a runner can call it per problem, per shard or in Ray's
``map_batches`` alike; look one up by name with ``tracemint.plugins.verifiers.get``.

Built-ins: ``answer`` (final answer vs reference, or a program's return value), ``family``
(a generated problem judged by its family's own check), ``steps`` (arithmetic claims of
each step). Contract (tests/test_verifier_contract.py): ``verify`` returns one record per
input, in order, with every input column kept and exactly ``columns`` added or replaced,
never marks a hedged or conflicting answer correct, and takes an empty batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from tracemint import plugins
from tracemint.records import Record
from tracemint.registry import Registry


class Verifier(ABC):
    """Judges records and writes record-schema columns (``records.VERDICT_FIELDS``,
    ``records.STEP_FIELDS``); subclasses take their options as keyword arguments."""

    name: str = "verifier"
    columns: tuple[str, ...] = ()  # the columns verify() writes on every record

    @abstractmethod
    def verify(self, records: Sequence[Record]) -> list[Record]:
        """Return new records (inputs are not mutated) with ``columns`` added."""


verifiers: Registry[type[Verifier]] = plugins.verifiers  # built-ins load lazily by name
