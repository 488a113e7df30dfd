"""Commands that make a run's traces and grade rationales: ``run``, ``verify``, ``probe``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tracemint.cli.common import _friendly, _out_file, _summary_table, app
from tracemint.errors import ConfigError, SourceError


@app.command()
@_friendly
def run(
    recipe: Annotated[Path, typer.Argument(help="recipe TOML file")],
    resume: Annotated[
        bool, typer.Option(help="continue a killed run; no finished call is repeated")
    ] = False,
    fresh: Annotated[
        bool, typer.Option(help="redo the traces (LLM calls still come from the cache)")
    ] = False,
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
    runner: Annotated[
        str, typer.Option(help="local (asyncio, one process) or ray (a Ray cluster)")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="ray: 'auto', HOST:PORT or ray://HOST:PORT; default: a private Ray"),
    ] = None,
    actors: Annotated[
        int | None, typer.Option(help="ray: actor pool size (default: cluster CPUs / actor-cpus)")
    ] = None,
    actor_cpus: Annotated[float, typer.Option(help="ray: CPUs each minting actor reserves")] = 1.0,
) -> None:
    """Mint traces: problems -> k rationales -> verify -> select -> export -> report."""
    from tracemint.config import load_recipe

    r = load_recipe(recipe)
    if runner == "ray":
        from tracemint.runner.ray import RayRunner

        manifest = RayRunner(
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

        manifest = LocalRunner(r, resume=resume, fresh=fresh, progress=progress).run()
    else:
        raise ConfigError(f"--runner: unknown runner {runner!r}; known: local, ray")
    # imported only now: what runs after minting must not delay the first LLM call
    from tracemint.export import export_run
    from tracemint.report import build_report, report_stats, terminal_summary
    from tracemint.store import RunStore

    run_dir = r.run_dir()
    exported = export_run(
        run_dir,
        list(r.export.formats),
        file_types=tuple(r.export.file_types),
        system_prompt=r.export.system_prompt,
        max_pairs_per_problem=r.export.max_pairs_per_problem,
    )
    stats = report_stats(RunStore(run_dir))  # read once for the report and the summary
    report = build_report(run_dir, stats)
    rows = terminal_summary(run_dir, stats)
    last = manifest["sessions"][-1]
    rows += [
        ("new LLM calls", f"{last['new_calls']:,}"),
        ("cached LLM calls", f"{last['cached_calls']:,}"),
    ]
    rows += [(f"export {k}", f"{v['rows']:,} rows") for k, v in exported.items()]
    rows += [("report", str(report))]
    Console().print(_summary_table(f"run {r.name}", rows))


def _pick(row: dict[str, Any], given: str | None, candidates: tuple[str, ...]) -> str | None:
    if given is not None:
        return given
    return next((c for c in candidates if c in row), None)


_VERIFY_BATCH = 256  # rows judged per verifier call by `tracemint verify`


@app.command()
@_friendly
def verify(
    path: Annotated[Path, typer.Argument(help="JSONL/JSON/CSV/Parquet file of rationales")],
    out: Annotated[Path, typer.Option("--out", help="graded JSONL to write")],
    question_field: Annotated[str | None, typer.Option(help="default: question")] = None,
    rationale_field: Annotated[
        str | None, typer.Option(help="default: completion, rationale, response, output")
    ] = None,
    reference_field: Annotated[
        str | None, typer.Option(help="default: reference, input_answer, answer, gold, label")
    ] = None,
    choices_field: Annotated[str | None, typer.Option(help="multiple-choice options list")] = None,
    steps: Annotated[
        bool, typer.Option("--steps", help="also check each step's arithmetic claims")
    ] = False,
) -> None:
    """Grade existing rationales against references; prints accuracy.

    Writes the verdict columns a run writes (answer, reference_answer, verdict,
    verdict_reason, verifier_version; + step columns with --steps), plus extracted_answer,
    extracted_reference and correct as aliases of the earlier format; an input field a
    column replaces is kept as input_<name> (docs/grading.md).
    """
    from tracemint.sources.files import iter_rows
    from tracemint.verify.rows import (
        CHOICES_FIELDS,
        QUESTION_FIELDS,
        RATIONALE_FIELDS,
        REFERENCE_FIELDS,
        Fields,
        verify_rows,
    )

    _out_file(out)
    n = correct = wrong = with_wrong_step = 0
    tmp = out.with_name(out.name + ".tmp")
    batch: list[dict[str, Any]] = []
    fields: list[Fields] = []

    def flush(f: Any) -> None:
        # The verifiers are batch functions; a bounded batch keeps a huge file streaming.
        nonlocal n, correct, wrong, with_wrong_step
        for r in verify_rows(batch, fields, steps=steps):
            n += 1
            correct += r["correct"] is True
            wrong += r["correct"] is False
            with_wrong_step += steps and r["first_wrong_step"] is not None
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        batch.clear()
        fields.clear()

    with open(tmp, "w", encoding="utf-8") as f:
        for line, row in iter_rows(path):
            r_field = _pick(row, rationale_field, RATIONALE_FIELDS)
            a_field = _pick(row, reference_field, REFERENCE_FIELDS)
            c_field = _pick(row, choices_field, CHOICES_FIELDS)
            q_field = _pick(row, question_field, QUESTION_FIELDS)
            for name, fld in (("rationale", r_field), ("reference", a_field)):
                if fld is None or fld not in row:
                    raise SourceError(
                        f"no {name} field; fields present: {sorted(row)} (set --{name}-field)",
                        path=str(path),
                        line=line,
                        field=fld,
                    )
            assert r_field is not None and a_field is not None  # checked just above
            if not isinstance(row[r_field], str):
                raise SourceError(
                    "rationale is not a string", path=str(path), line=line, field=r_field
                )
            batch.append(row)
            fields.append(Fields(r_field, a_field, q_field, c_field))
            if len(batch) >= _VERIFY_BATCH:
                flush(f)
        flush(f)
    os.replace(tmp, out)
    graded = correct + wrong
    acc = f"{correct / graded:.4f}" if graded else "n/a"
    Console().print(
        _summary_table(
            "verify",
            [
                ("rows", f"{n:,}"),
                ("correct", f"{correct:,}"),
                ("wrong", f"{wrong:,}"),
                ("unverifiable", f"{n - graded:,}"),
                *([("with a wrong step", f"{with_wrong_step:,}")] if steps else []),
                ("accuracy", acc),
                ("written", str(out)),
            ],
        )
    )


@app.command()
@_friendly
def probe(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    probes: Annotated[
        str | None,
        typer.Option(
            help="comma-separated, e.g. early,filler,mistake,hint,paraphrase,counterfactual; "
            "default: the recipe's [probes] names"
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="a probe setting, PROBE.KEY=VALUE (repeatable), e.g. mistake.max_tokens=128; "
            "overrides the recipe's [probes.PROBE] table; VALUE is read as JSON if it parses",
        ),
    ] = None,
    sample: Annotated[
        float | None,
        typer.Option(
            help="share of accepted traces to probe (by trace id); default: the recipe's "
            "[probes] sample (1.0 unless set)"
        ),
    ] = None,
    all_traces: Annotated[
        bool, typer.Option("--all", help="probe every answered trace, not only accepted ones")
    ] = False,
    progress: Annotated[bool, typer.Option(help="show the progress bar (on stderr)")] = True,
) -> None:
    """Measure faithfulness: run probes on a run's accepted traces and add their columns.

    Probes use the run recipe's [probes.NAME] settings, so a rerun reproduces (from the
    cache) what the run computed; --set changes one for this command only."""
    from tracemint.report import build_report
    from tracemint.runner.augment import parse_settings, probe_run

    if sample is not None and not 0.0 < sample <= 1.0:
        raise ConfigError(f"--sample {sample}: must be a share in (0, 1]")
    names = [n.strip() for n in probes.split(",") if n.strip()] if probes is not None else None
    if probes is not None and not names:
        raise ConfigError("--probes: no probe named (e.g. --probes early,filler)")
    res = probe_run(
        run_dir,
        names,
        sample,
        parse_settings(settings or []),
        accepted_only=not all_traces,
        progress=progress,
    )
    path = build_report(run_dir)
    Console().print(
        _summary_table("probe", [("probed traces", f"{res['probed']:,}"), ("report", str(path))])
    )
