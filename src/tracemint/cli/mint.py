"""Commands that make a run's traces and grade rationales: ``run``, ``verify``, ``probe``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tracemint import api
from tracemint.api import _FieldNames, _grade
from tracemint.cli.common import _friendly, _out_file, _summary_table, app
from tracemint.errors import ConfigError


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
    r = api.load_recipe(recipe)
    if runner not in api.RUNNERS:
        raise ConfigError(f"--runner: unknown runner {runner!r}; known: local, ray")
    result = api.run(
        r,
        resume=resume,
        fresh=fresh,
        progress=progress,
        runner=runner,
        address=address,
        actors=actors,
        actor_cpus=actor_cpus,
    )
    rows = result.summary()
    last = result.manifest["sessions"][-1]
    rows += [
        ("new LLM calls", f"{last['new_calls']:,}"),
        ("cached LLM calls", f"{last['cached_calls']:,}"),
    ]
    rows += [(f"export {k}", f"{v['rows']:,} rows") for k, v in result.exported.items()]
    rows += [("report", str(result.report_path))]
    Console().print(_summary_table(f"run {r.name}", rows))


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
    _out_file(out)
    names = _FieldNames(question_field, rationale_field, reference_field, choices_field)
    graded_rows = _grade(path, names, steps=steps, option="--{}-field")
    n = correct = wrong = with_wrong_step = 0
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in graded_rows:
            n += 1
            correct += r["correct"] is True
            wrong += r["correct"] is False
            with_wrong_step += steps and r["first_wrong_step"] is not None
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
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
    from tracemint.augment.probe import parse_settings

    if sample is not None and not 0.0 < sample <= 1.0:
        raise ConfigError(f"--sample {sample}: must be a share in (0, 1]")
    names = [n.strip() for n in probes.split(",") if n.strip()] if probes is not None else None
    if probes is not None and not names:
        raise ConfigError("--probes: no probe named (e.g. --probes early,filler)")
    options = parse_settings(settings or [])
    result = api.Run(run_dir)
    probed = result.probe(
        names, sample=sample, settings=options, accepted_only=not all_traces, progress=progress
    )
    path = result.report()
    Console().print(
        _summary_table("probe", [("probed traces", f"{probed:,}"), ("report", str(path))])
    )
