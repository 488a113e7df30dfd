"""The library API: what each ``tracemint`` command does, as functions a program can call.

The commands are thin: ``tracemint run`` parses its options, calls ``run`` here and prints
the summary; a program that calls ``run`` gets the same run directory, the same exports and
the same report, and a ``Run`` to read them back. Keeping the sequence (mint, export,
report) here rather than in the CLI is what makes the two agree.

``import tracemint`` must stay as cheap as it was (``tracemint --help`` pays for it on
every start), so this module imports nothing heavy at the top: pyarrow, pydantic and the
runners are imported by the function that needs them, and the re-exported ``load_recipe``,
``Recipe``, ``trace_schema`` and ``ALL_FIELDS`` are resolved on first access.

Errors are the package's own: a bad recipe is a ``ConfigError``, unreadable rows a
``SourceError`` naming the file, line and field, a directory that is not a run a
``RunError`` (all ``TracemintError``; see ``tracemint.errors``).
"""

from __future__ import annotations

import os

from tracemint.errors import ConfigError, SourceError

# Not typing.TYPE_CHECKING: importing typing (and collections.abc, pathlib, dataclasses)
# here would cost `import tracemint` more than everything else it does; type checkers
# treat any name TYPE_CHECKING the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from pathlib import Path
    from typing import Any, TypeAlias

    import pyarrow as pa

    from tracemint.config import Recipe, load_recipe
    from tracemint.records import ALL_FIELDS, trace_schema

    PathLike: TypeAlias = str | Path  # a file or directory, as str or pathlib.Path

__all__ = [
    "ALL_FIELDS",
    "Recipe",
    "Run",
    "families",
    "generate",
    "grade",
    "load_recipe",
    "run",
    "trace_schema",
]

# Re-exported names whose modules import pydantic or pyarrow: resolved on first access.
LAZY = {
    "load_recipe": "tracemint.config",
    "Recipe": "tracemint.config",
    "ALL_FIELDS": "tracemint.records",
    "trace_schema": "tracemint.records",
}

_GRADE_BATCH = 256  # rows judged per verifier call: a huge file streams in bounded memory
RUNNERS = ("local", "ray")


def __getattr__(name: str) -> Any:
    if name in LAZY:
        import importlib

        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY})


class Run:
    """A run directory, opened: its manifest, traces, exports and report.

    ``run`` returns one; ``Run(path)`` opens an existing one (a ``RunError`` when ``path``
    is not a run). The manifest and traces are read from disk when asked for, so a ``Run``
    held across a ``tracemint probe`` or a resumed run sees the new columns and counts.
    """

    def __init__(self, path: PathLike) -> None:
        from tracemint.store import RunStore

        self._store = RunStore(path)
        self._store.read_manifest()  # fails here, naming the directory, if it is not a run
        self.path: Path = self._store.root
        # {format: {"rows": n, "files": [...]}} of the export ``run`` did; {} when opened
        self.exported: dict[str, dict[str, Any]] = {}
        # report_stats, kept between the report and the summary: each reads every shard
        self._stats: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def manifest(self) -> dict[str, Any]:
        """``manifest.json``: the recipe as run, versions, counts and one entry per session."""
        return self._store.read_manifest()

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def counts(self) -> dict[str, Any]:
        """The run's counts from its manifest: problems, traces, verdicts, accepted, ..."""
        return dict(self.manifest.get("counts", {}))

    @property
    def report_path(self) -> Path:
        return self._store.report_path

    def traces(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Every trace of the run as one Arrow table (``columns``: only those).

        An Arrow table rather than a list of dicts: the columns keep the types the shards
        have (``records.ALL_FIELDS``, probe columns as declared) and a large run does not
        become a million dicts unless asked to: ``.to_pylist()`` gives the dicts,
        ``.to_pandas()`` a DataFrame. A run with no traces reads as an empty table.
        """
        return self._store.read_traces(columns, allow_empty=True)

    def export(
        self,
        formats: str | Sequence[str],
        out: PathLike | None = None,
        *,
        file_types: Sequence[str] = ("jsonl", "parquet"),
        system_prompt: str | None = None,
        max_pairs_per_problem: int = 4,
    ) -> dict[str, dict[str, Any]]:
        """Write training files (``tracemint export``): one file per format and file type,
        named after the format (``sft.jsonl``, ``dpo.parquet``, ...), in the folder ``out``
        (default: the run's ``export/``). Returns ``{format: {"rows": n, "files": [...]}}``.

        Exporting into the run's own ``export/`` also rewrites the run's dataset card
        (``README.md``, ``tracemint.export.card``), so ``datasets.load_dataset(RUN, FORMAT)``
        finds the new files; a folder elsewhere is not part of the run's dataset.
        """
        from pathlib import Path

        from tracemint.export import export_run
        from tracemint.export.card import write_card

        names = [formats] if isinstance(formats, str) else list(formats)
        written = export_run(
            self.path,
            names,
            out,
            tuple(file_types),
            system_prompt=system_prompt,
            max_pairs_per_problem=max_pairs_per_problem,
        )
        if out is None or Path(out).resolve() == self._store.export_dir.resolve():
            write_card(self.path)
        return written

    def card(self) -> Path:
        """(Re)write the run's dataset card, ``README.md``; returns its path."""
        from tracemint.export.card import write_card

        return write_card(self.path)

    def push(
        self,
        repo_id: str,
        *,
        private: bool = False,
        include_cache: bool = False,
        revision: str | None = None,
    ) -> str:
        """Upload the run as a Hub dataset (``tracemint push``): card, traces, exports,
        manifest and report; ``cache.sqlite`` (every raw completion) only with
        ``include_cache``. The token is huggingface_hub's own (``HF_TOKEN`` or its login).
        Returns the commit's URL."""
        from tracemint.export.hub import push_run

        return push_run(
            self.path, repo_id, private=private, include_cache=include_cache, revision=revision
        )

    def report(self) -> Path:
        """(Re)build ``report.html`` from the traces as they are now; returns its path."""
        from tracemint.report import build_report, report_stats

        self._stats = report_stats(self._store)
        return build_report(self.path, self._stats)

    def summary(self) -> list[tuple[str, str]]:
        """The few numbers ``tracemint run`` prints, as (label, value) text pairs; from the
        same reading of the traces as the last ``report`` when there was one."""
        from tracemint.report import report_stats, terminal_summary

        if self._stats is None:
            self._stats = report_stats(self._store)
        return terminal_summary(self.path, self._stats)

    def probe(
        self,
        probes: Sequence[str] | None = None,
        *,
        sample: float | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        accepted_only: bool = True,
        progress: bool = False,
    ) -> int:
        """Run faithfulness probes on the run's traces and store their columns in every
        shard (``tracemint probe``, less the report: call ``report`` after). ``probes`` and
        ``sample`` default to the recipe's ``[probes]``; ``settings`` (``{probe: {key:
        value}}``) overrides its ``[probes.NAME]`` tables. Returns how many traces were
        probed."""
        from tracemint.augment.probe import probe_run

        if sample is not None and not 0.0 < sample <= 1.0:
            raise ConfigError(f"sample {sample}: must be a share in (0, 1]")
        res = probe_run(
            self.path,
            list(probes) if probes is not None else None,
            sample,
            settings,
            accepted_only=accepted_only,
            progress=progress,
        )
        self._stats = None  # the faithfulness numbers changed
        self.card()  # the traces have new columns: the card lists them
        return res["probed"]


def run(
    recipe: Recipe | PathLike,
    *,
    resume: bool = False,
    fresh: bool = False,
    runner: str = "local",
    progress: bool = False,
    address: str | None = None,
    actors: int | None = None,
    actor_cpus: float = 1.0,
) -> Run:
    """Mint a recipe's traces, then export and report them: what ``tracemint run`` does.

    ``recipe`` is a ``Recipe`` or the path of its TOML file. ``resume`` continues a killed
    run (no finished call is repeated); ``fresh`` redoes the traces (LLM calls still come
    from the cache); neither: a rerun of a finished run is refused rather than silently
    mixing two recipes' traces. ``runner`` is ``"local"`` (asyncio, one process plus
    ``[run] workers``) or ``"ray"`` (``address``, ``actors``, ``actor_cpus``: see
    docs/scaling.md). ``progress`` draws the progress bar on stderr (off by default here,
    on in the CLI). The exports are the recipe's ``[export]`` formats, in the run's
    ``export/``; ``report.html`` is rebuilt.
    """
    from tracemint.config import load_recipe

    r = load_recipe(recipe) if isinstance(recipe, (str, os.PathLike)) else recipe
    if runner == "ray":
        from tracemint.runner.ray import RayRunner

        RayRunner(
            r,
            resume=resume,
            fresh=fresh,
            progress=progress,
            address=address,
            actors=actors,
            actor_cpus=actor_cpus,
        ).run()
    elif runner == "local":
        from tracemint.runner.local import LocalRunner

        LocalRunner(r, resume=resume, fresh=fresh, progress=progress).run()
    else:
        raise ConfigError(f"runner: unknown runner {runner!r}; known: {', '.join(RUNNERS)}")
    # export and report import their modules only now: they must not delay the first call
    result = Run(r.run_dir())
    result.exported = result.export(
        list(r.export.formats),
        file_types=tuple(r.export.file_types),
        system_prompt=r.export.system_prompt,
        max_pairs_per_problem=r.export.max_pairs_per_problem,
    )
    result.report()
    return result


class _FieldNames:
    """The fields a caller named (None: the first of the defaults present in the row)."""

    __slots__ = ("choices", "question", "rationale", "reference")

    def __init__(
        self,
        question: str | None = None,
        rationale: str | None = None,
        reference: str | None = None,
        choices: str | None = None,
    ) -> None:
        self.question, self.rationale = question, rationale
        self.reference, self.choices = reference, choices


def grade(
    rows: Iterable[Mapping[str, Any]] | PathLike,
    *,
    question_field: str | None = None,
    rationale_field: str | None = None,
    reference_field: str | None = None,
    choices_field: str | None = None,
    steps: bool = False,
) -> Iterator[dict[str, Any]]:
    """Grade existing rationales against their references: what ``tracemint verify`` does.

    Named ``grade`` because ``tracemint.verify`` is the package of verifiers. ``rows`` is
    an iterable of dicts or the path of a JSONL/JSON/CSV/Parquet file. Each row comes back
    with the verdict columns a run writes (``answer``, ``reference_answer``, ``verdict``,
    ``verdict_reason``, ``verifier_version``; the step columns with ``steps``) plus
    ``extracted_answer``, ``extracted_reference`` and ``correct`` (docs/grading.md). Field
    names default to the first present of the usual ones (``completion``, ``rationale``,
    ...; ``reference``, ``answer``, ...).

    Returns an iterator, graded in batches as it is consumed, so a file of millions of rows
    streams; ``list(...)`` it for a list. The file is opened (and a missing one reported)
    at the call; a row without a rationale or reference is a ``SourceError`` when reached.
    """
    names = _FieldNames(question_field, rationale_field, reference_field, choices_field)
    return _grade(rows, names, steps=steps, option="{}_field")


def _grade(
    rows: Iterable[Mapping[str, Any]] | PathLike,
    names: _FieldNames,
    *,
    steps: bool,
    option: str,
) -> Iterator[dict[str, Any]]:
    """``grade``, with ``option`` the template of the hint naming a field's setting: the
    CLI's is ``--{}-field``, the library's ``{}_field``."""
    numbered: Iterator[tuple[str, int | None, Any]]
    if isinstance(rows, (str, os.PathLike)):
        from tracemint.sources.files import iter_rows

        where = str(rows)
        numbered = ((where, line, row) for line, row in iter_rows(rows))
    else:
        numbered = ((f"rows[{i}]", None, row) for i, row in enumerate(rows))
    return _graded(numbered, names, steps, option)


def _pick(row: Mapping[str, Any], given: str | None, candidates: tuple[str, ...]) -> str | None:
    if given is not None:
        return given
    return next((c for c in candidates if c in row), None)


def _graded(
    numbered: Iterator[tuple[str, int | None, Any]],
    names: _FieldNames,
    steps: bool,
    option: str,
) -> Iterator[dict[str, Any]]:
    from collections.abc import Mapping

    from tracemint.verify.rows import (
        CHOICES_FIELDS,
        QUESTION_FIELDS,
        RATIONALE_FIELDS,
        REFERENCE_FIELDS,
        Fields,
        verify_rows,
    )

    batch: list[dict[str, Any]] = []
    fields: list[Fields] = []
    for where, line, row in numbered:
        if not isinstance(row, Mapping):
            raise SourceError(f"expected a row (a dict), got {type(row).__name__}", path=where)
        r_field = _pick(row, names.rationale, RATIONALE_FIELDS)
        a_field = _pick(row, names.reference, REFERENCE_FIELDS)
        c_field = _pick(row, names.choices, CHOICES_FIELDS)
        q_field = _pick(row, names.question, QUESTION_FIELDS)
        for name, fld in (("rationale", r_field), ("reference", a_field)):
            if fld is None or fld not in row:
                raise SourceError(
                    f"no {name} field; fields present: {sorted(row)} (set {option.format(name)})",
                    path=where,
                    line=line,
                    field=fld,
                )
        assert r_field is not None and a_field is not None  # checked just above
        if not isinstance(row[r_field], str):
            raise SourceError("rationale is not a string", path=where, line=line, field=r_field)
        batch.append(dict(row))
        fields.append(Fields(r_field, a_field, q_field, c_field))
        if len(batch) >= _GRADE_BATCH:
            yield from verify_rows(batch, fields, steps=steps)
            batch, fields = [], []
    if batch:
        yield from verify_rows(batch, fields, steps=steps)


def generate(
    family: str,
    n: int = 100,
    seed: int = 0,
    *,
    options: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """``n`` distinct problems of a procedural family, with exact answers and gold
    rationales: the rows ``tracemint generate`` writes. The same family, ``n``, ``seed`` and
    ``options`` (the family's knobs, e.g. ``{"difficulty": 3}``) give the same rows.

    The family and its options are checked at the call (a ``ConfigError`` naming the bad
    knob); rows are drawn as the iterator is consumed, so a million need not be held.
    """
    from tracemint.synth.base import create_family
    from tracemint.synth.base import generate as draw
    from tracemint.synth.records import item_row

    if n < 1:
        raise ConfigError(f"n {n}: ask for at least one problem")
    fam = create_family(family, options)
    return (item_row(fam, item, i, seed) for i, item in enumerate(draw(fam, n, seed)))


def families() -> dict[str, str]:
    """The procedural families ``generate`` knows: name -> the first line of its doc."""
    from tracemint.synth.base import families as registry
    from tracemint.synth.families import load_builtin

    load_builtin()
    out: dict[str, str] = {}
    for name in registry.names():
        doc = (registry.get(name).__doc__ or "").strip().splitlines()
        out[name] = doc[0] if doc else ""
    return out
