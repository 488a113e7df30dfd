"""Commands that write problems: ``generate``, ``variants``, ``decontaminate``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tracemint import api
from tracemint.cli.common import _friendly, _knobs, _out_file, _summary_table, app, note
from tracemint.errors import SourceError


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_friendly
def generate(
    ctx: typer.Context,
    family: Annotated[
        str | None, typer.Option(help="procedural family; see --list; knobs follow as --name value")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="how many distinct problems")] = 100,
    seed: Annotated[int, typer.Option(help="same seed and knobs -> the same problems")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="JSONL file to write")] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the families and exit")] = False,
) -> None:
    """Write procedurally generated problems with exact answers and gold rationales."""
    if list_ or family is None:
        for name, doc in api.families().items():
            typer.echo(f"{name:20s} {doc}")
        if family is None and not list_:
            raise typer.Exit(2)
        return
    if out is None:
        raise typer.BadParameter("--out is required", param_hint="--out")
    _out_file(out)
    rows = api.generate(family, n, seed, options=_knobs(list(ctx.args)))
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    note(f"wrote {n:,} {family} problems to {out}")


@app.command()
@_friendly
def variants(
    run_dir: Annotated[Path, typer.Argument(help="a finished program-aided (pal) run")],
    out: Annotated[Path, typer.Option("--out", help="JSONL file of variants to write")],
    per_problem: Annotated[int, typer.Option(min=1, help="variants drawn per problem")] = 3,
    seed: Annotated[int, typer.Option(help="same seed -> the same variants")] = 0,
    check_with_teacher: Annotated[
        bool, typer.Option("--check-with-teacher", help="keep only variants the teacher solves")
    ] = False,
) -> None:
    """Write counterfactual variants of a run's problems (new numbers, answers recomputed
    by the problem's verified program); see docs/variants.md."""
    from tracemint.augment.variants import VariantsConfig, make_variants

    _out_file(out)
    res = make_variants(run_dir, VariantsConfig(per_problem, seed, check_with_teacher))
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in res.variants:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    rows = [("problems", f"{res.problems:,}")]
    rows += [(k, f"{v:,}") for k, v in res.counts.items()]
    rows += [("written", str(out))]
    Console().print(_summary_table("variants", rows))


@app.command()
@_friendly
def decontaminate(
    path: Annotated[Path, typer.Argument(help="JSONL/JSON/CSV/Parquet file of problems")],
    against: Annotated[
        list[str],
        typer.Option(
            "--against", help="benchmark file: PATH, NAME=PATH or PRESET:PATH (repeatable)"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="JSONL of the kept rows")],
    removed: Annotated[Path, typer.Option("--removed", help="JSONL of the removed rows")],
    field: Annotated[
        list[str] | None, typer.Option("--field", help="input field(s) to check; default question")
    ] = None,
    against_field: Annotated[
        str | None, typer.Option(help="benchmark question field; default: preset or auto")
    ] = None,
    ngram: Annotated[int, typer.Option(min=1, help="n-gram length")] = 13,
    near_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="near-match word-set Jaccard; 0: off")
    ] = 0.6,
) -> None:
    """Remove rows that copy a benchmark item (n-gram overlap or near-match); see
    docs/curation.md."""
    from tracemint.curate.decontam import BenchmarkIndex, decontaminate, parse_spec
    from tracemint.sources.files import iter_rows

    _out_file(out)
    _out_file(removed, "--removed")
    fields = tuple(field or ("question",))
    index = BenchmarkIndex.from_files(
        [parse_spec(a, against_field) for a in against], n=ngram, near_threshold=near_threshold
    )
    n = 0
    methods: dict[str, int] = {}
    tmp_out, tmp_rm = out.with_name(out.name + ".tmp"), removed.with_name(removed.name + ".tmp")
    with open(tmp_out, "w", encoding="utf-8") as fk, open(tmp_rm, "w", encoding="utf-8") as fr:
        for line, row in iter_rows(path):
            present = [f for f in fields if f in row]
            if not present:
                raise SourceError(
                    f"none of the fields {list(fields)} present; fields present: {sorted(row)} "
                    "(set --field)",
                    path=str(path),
                    line=line,
                    field=fields[0],
                )
            for f in present:
                if not isinstance(row[f], str):
                    raise SourceError("expected a string", path=str(path), line=line, field=f)
            kept, dropped = decontaminate([row], index, fields)
            n += 1
            for r in kept:
                fk.write(json.dumps(r, ensure_ascii=False) + "\n")
            for r in dropped:
                method = r["contaminated_by"]["method"]
                methods[method] = methods.get(method, 0) + 1
                fr.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp_out, out)
    os.replace(tmp_rm, removed)
    n_removed = sum(methods.values())
    rows = [
        ("benchmark items", f"{len(index):,}"),
        ("rows", f"{n:,}"),
        ("kept", f"{n - n_removed:,}"),
        ("removed", f"{n_removed:,}"),
        *[(f"removed by {m}", f"{c:,}") for m, c in sorted(methods.items())],
        ("written", f"{out}, {removed}"),
    ]
    Console().print(_summary_table("decontaminate", rows))
