"""The ``tracemint`` command line. Errors become exit codes here, and only here.

Nothing a user types or has on disk may end in a traceback: every command is wrapped by
``_friendly``, which prints a ``TracemintError`` as one ``error:`` line and maps anything
unexpected to one line that says it is a bug. Text that comes from the user (paths, field
names, messages quoting them) is printed as plain ``rich.text.Text``, never as rich markup:
``tracemint[ray]`` in an install hint or ``data[/x].toml`` in a path must print as typed.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

from tracemint import __version__
from tracemint.errors import ConfigError, SourceError, TracemintError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Mint verified, faithful chain-of-thought data from any teacher LLM.",
)
console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "TRACEMINT_DEBUG"
# click's own errors (BadParameter, ...), which click reports with the usage line. Found by
# name because typer >= 0.2x vendors click as typer._click while older typer uses click.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
# An unexpected exception's text is shown on one line; a huge one (a 5 MB input line quoted
# back) is cut so the line stays readable. TRACEMINT_DEBUG=1 shows it all.
_MAX_UNEXPECTED = 500


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tracemint {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Holds the options that come before any command (``--version``): a user's first try."""


def error_line(message: str) -> None:
    """Print ``error: <message>`` on stderr, the message as plain text (no rich markup),
    unwrapped, so a long path stays one line a user can copy."""
    console.print(
        Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
    )


def note(message: str) -> None:
    """Print a message that quotes paths on stderr: plain text, unwrapped (see error_line)."""
    console.print(Text(message), highlight=False, soft_wrap=True)


def _one_line(text: str, limit: int = _MAX_UNEXPECTED) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _friendly(fn: F) -> F:
    """Turn every failure of a command into one ``error:`` line and an exit code.

    A ``TracemintError`` is something the user can act on: its message and its class's exit
    code. An ``OSError`` that escaped (permission denied, disk full) is the environment's,
    not a bug: its file and reason, exit 1. Anything else is a bug in tracemint, but a user
    still gets one line, not a traceback; ``TRACEMINT_DEBUG=1`` re-raises it for the report.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TracemintError as e:
            error_line(str(e))
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: finished work is saved; rerun with --resume")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, _CLICK_ERROR):
            raise  # click reports these itself
        except OSError as e:
            if os.environ.get(DEBUG_ENV):
                raise
            where = f"{e.filename}: " if e.filename is not None else ""
            error_line(_one_line(f"{where}{e.strerror or e}"))
            raise typer.Exit(1) from None
        except Exception as e:
            if os.environ.get(DEBUG_ENV):
                raise
            error_line(
                f"{type(e).__name__}: {_one_line(str(e))} (this is a bug in tracemint; "
                f"rerun with {DEBUG_ENV}=1 for the traceback)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _no_file_above(out: Path, flag: str) -> None:
    """The nearest existing folder above ``out`` must be a folder: a file there (a typo'd
    ``--out data.jsonl/x``) would fail later with a bare OSError."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {out}: {parent} is a file, not a directory")
            return


def _out_file(out: Path, flag: str = "--out") -> None:
    """Fail before any work when an output file cannot be written where it is asked for;
    create its folder."""
    if out.is_dir():
        raise ConfigError(f"{flag} {out}: is a directory; give a file path")
    _no_file_above(out, flag)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot create its folder ({e.strerror})") from None


def _out_dir(out: Path, flag: str = "--out") -> None:
    """Fail before any work when an output directory is an existing file (or under one)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out}: is a file; give a directory")
    _no_file_above(out, flag)


def _summary_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column summary; cells are plain ``Text`` because values quote user paths."""
    table = Table(title=Text(title, style="table.title"), show_header=False)
    for k, v in rows:
        table.add_row(Text(k), Text(v))
    return table


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


def _knobs(args: list[str]) -> dict[str, Any]:
    """``--depth 3 --max-modulus=50`` -> {"depth": 3, "max_modulus": 50} (values as JSON
    where they parse, else strings); the family's config then validates names and types."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise typer.BadParameter(f"unexpected argument {arg!r}; family knobs are --name value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise typer.BadParameter(f"--{key} needs a value")
            value, i = args[i + 1], i + 1
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except ValueError:
            out[key.replace("-", "_")] = value
        i += 1
    return out


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
    from tracemint.synth.base import create_family, families
    from tracemint.synth.base import generate as draw
    from tracemint.synth.families import load_builtin
    from tracemint.synth.records import item_row

    if list_ or family is None:
        load_builtin()
        for name in families.names():
            doc = (families.get(name).__doc__ or "").strip().splitlines()
            typer.echo(f"{name:20s} {doc[0] if doc else ''}")
        if family is None and not list_:
            raise typer.Exit(2)
        return
    if out is None:
        raise typer.BadParameter("--out is required", param_hint="--out")
    _out_file(out)
    fam = create_family(family, _knobs(list(ctx.args)))
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i, item in enumerate(draw(fam, n, seed)):
            f.write(json.dumps(item_row(fam, item, i, seed), ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    note(f"wrote {n:,} {family} problems to {out}")


class _ExportCommand(TyperCommand):
    """``export`` whose ``--help`` lists the formats in the exporter registry, so a new
    exporter shows up without touching this file. The registry is read only when help is
    shown: importing the exporters (pyarrow) would slow every other command's start."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from tracemint.export import exporters

        for param in self.params:
            if param.name == "fmt" and hasattr(param, "help"):
                names = ", ".join(exporters.names())
                param.help = f"one of {names}; repeat it, or join with |, for several"
        super().format_help(ctx, formatter)


@app.command(cls=_ExportCommand)
@_friendly
def export(
    run_dir: Annotated[Path, typer.Argument(help="a run directory, e.g. runs/gsm8k")],
    fmt: Annotated[list[str], typer.Option("--format", help="export format (repeatable)")],
    out: Annotated[Path | None, typer.Option("--out", help="default: RUN/export")] = None,
    file_type: Annotated[list[str] | None, typer.Option(help="jsonl and/or parquet")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="system message to prepend")] = None,
) -> None:
    """Write training-ready files from a run's traces."""
    from tracemint.export import export_run

    if out is not None:
        _out_dir(out)
    formats = [f for part in fmt for f in part.split("|") if f]
    res = export_run(
        run_dir, formats, out, tuple(file_type or ("jsonl", "parquet")), system_prompt=system_prompt
    )
    rows = [(k, f"{v['rows']:,} rows -> {', '.join(v['files'])}") for k, v in res.items()]
    Console().print(_summary_table("export", rows))


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
    from tracemint.synth.variants import VariantsConfig, make_variants

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


@app.command()
@_friendly
def report(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """(Re)build a run's report.html and print its summary."""
    from tracemint.report import build_report, terminal_summary

    path = build_report(run_dir)
    Console().print(_summary_table(f"report -> {path}", terminal_summary(run_dir)))


def _check_answers(args: list[str]) -> None:
    """Read the test server's ``--answers`` file the way it will (JSON lines, each with a
    question and an answer) before it starts, so a bad file is one ``error:`` line that
    names its line and field instead of an exception inside the server's start-up."""
    from tracemint.sources.rows import RowReader

    for i, arg in enumerate(args):
        if arg == "--answers" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--answers="):
            value = arg.partition("=")[2]
        else:
            continue
        reader = RowReader(value, format="jsonl")
        for _, number, row in reader.rows():
            for name in ("question", "answer"):
                if name not in row:
                    raise reader.error(
                        number, f"missing; fields present: {sorted(row)}", field=name
                    )
            if not isinstance(row["question"], str):
                raise reader.error(number, "expected a string", field="question")


@app.command(
    "serve-test",
    # --help and -h reach the server's own parser, which knows its options
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@_friendly
def serve_test(ctx: typer.Context) -> None:
    """Run the shipped OpenAI-compatible test server; --help lists its options."""
    from tracemint.testing.server import main

    args = list(ctx.args)
    if not any(a in ("-h", "--help") for a in args):
        _check_answers(args)
    code = main(args)
    if code:
        raise typer.Exit(code)


@app.command()
@_friendly
def view(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    port: Annotated[int, typer.Option(help="port; 0 picks a free one")] = 0,
    host: Annotated[str, typer.Option(help="address to bind (keep it local)")] = "127.0.0.1",
) -> None:
    """Browse a run's problems and traces in a local, read-only web page (Ctrl-C to stop)."""
    from tracemint.view import serve

    try:
        serve(run_dir, host=host, port=port)
    except KeyboardInterrupt:
        console.print("viewer stopped")


def _eval_teacher(
    spec: str, base_url: str | None, model: str | None, api_key_env: str | None
) -> dict[str, Any]:
    kind, _, arg = spec.partition(":")
    table: dict[str, Any] = {"type": kind}
    if kind == "local":
        if not arg:
            raise typer.BadParameter(
                "local needs a path: --teacher local:PATH", param_hint="--teacher"
            )
        table["path"] = arg
    elif arg:
        raise typer.BadParameter(f"{kind} takes no ':' argument", param_hint="--teacher")
    if kind == "openai":
        if model is None:
            raise typer.BadParameter("--model is required with --teacher openai")
        table["base_url"] = base_url or "http://127.0.0.1:8000/v1"
        if api_key_env:
            table["api_key_env"] = api_key_env
    if model is not None:
        table["model"] = model
    return table


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_friendly
def eval_(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="run name: results go to RUNS_DIR/NAME")],
    teacher: Annotated[str, typer.Option(help="embedded, local:PATH or openai")] = "embedded",
    base_url: Annotated[str | None, typer.Option(help="openai: server URL up to /v1")] = None,
    model: Annotated[str | None, typer.Option(help="openai: the served model name")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="openai: NAME of the env var holding the key")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="benchmark file of problems")] = None,
    preset: Annotated[str | None, typer.Option(help="field preset of --data, e.g. gsm8k")] = None,
    family: Annotated[
        str | None, typer.Option(help="procedural family; knobs follow as --name value")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="family problems per difficulty")] = 100,
    seed: Annotated[int, typer.Option(help="family seed")] = 0,
    difficulty: Annotated[
        str | None, typer.Option(help="family difficulty, or several: 1,2,3")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="samples per problem")] = 4,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1)] = 256,
    runs_dir: Annotated[Path, typer.Option(help="where run directories go")] = Path("runs"),
    steps: Annotated[bool, typer.Option(help="also check each step's arithmetic")] = False,
    fresh: Annotated[
        bool, typer.Option(help="redo the samples (LLM calls still come from the cache)")
    ] = False,
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
    strategy: Annotated[
        str, typer.Option(help="prompt template: a built-in name or a .jinja path")
    ] = "cot",
) -> None:
    """Evaluate a teacher: accuracy, maj@k and pass@k by difficulty (see docs/eval.md)."""
    from tracemint.evaluate.report import metric_names
    from tracemint.evaluate.run import EVAL_FILE, PLOT_FILE, eval_recipe, evaluate, family_problems

    if (data is None) == (family is None):
        raise typer.BadParameter("give exactly one of --data FILE or --family NAME")
    _out_dir(runs_dir, "--runs-dir")
    knobs = _knobs(list(ctx.args))
    if data is not None and knobs:
        raise typer.BadParameter(f"unexpected arguments {ctx.args} (family knobs need --family)")
    source: dict[str, Any]
    if data is not None:
        source = {"type": "file", "path": str(data), **({"preset": preset} if preset else {})}
    else:
        levels = [
            json.loads(d) if d.strip().isdigit() else d.strip()
            for d in (difficulty or "").split(",")
            if d.strip()
        ]
        if len(levels) > 1:
            path = family_problems(
                str(family), levels, n, seed, knobs, runs_dir / name / "problems.jsonl"
            )
            source = {"type": "file", "path": str(path), "id_field": "id"}
        else:
            options = {**knobs, **({"difficulty": levels[0]} if levels else {})}
            source = {
                "type": "generate",
                "family": family,
                "n": n,
                "seed": seed,
                "options": options,
            }
    recipe = eval_recipe(
        name,
        source,
        _eval_teacher(teacher, base_url, model, api_key_env),
        k=k,
        temperature=temperature,
        max_tokens=max_tokens,
        runs_dir=runs_dir,
        steps=steps,
        strategy=strategy,
    )
    result = evaluate(recipe, fresh=fresh, progress=progress)
    metrics = metric_names(result)
    table = Table(title=Text(f"eval {name} (k = {k})", style="table.title"))
    for col in ("difficulty", "problems", "samples", *metrics):
        table.add_column(col, justify="left" if col == "difficulty" else "right")
    groups = [*result["by_difficulty"].items(), ("overall", result["overall"])]
    for label, g in groups:
        table.add_row(  # a difficulty label comes from the user's data: plain text
            Text(str(label)),
            f"{g['problems']:,}",
            f"{g['samples']:,}",
            *(f"{g[m]:.3f}" for m in metrics),
        )
    Console().print(table)
    run_dir = recipe.run_dir()
    note(f"wrote {run_dir / EVAL_FILE} and {run_dir / PLOT_FILE}")


@app.command()
@_friendly
def train(
    data: Annotated[
        Path,
        typer.Argument(
            help="an exported sft.jsonl or sft.parquet (dpo.* for --method dpo); "
            "also JSON, CSV or Arrow"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="training directory; rerun to resume")],
    method: Annotated[str, typer.Option(help="sft or dpo")] = "sft",
    model: Annotated[str, typer.Option(help="embedded, tiny, or a model directory")] = "embedded",
    lora: Annotated[bool, typer.Option("--lora/--no-lora", help="train a LoRA adapter")] = True,
    max_steps: Annotated[int | None, typer.Option(help="stop after N steps")] = None,
    epochs: Annotated[float, typer.Option(help="passes over the data")] = 1.0,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    batch_size: Annotated[int, typer.Option(help="rows per step")] = 4,
    max_seq_len: Annotated[int, typer.Option(help="tokens per row")] = 256,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    progress: Annotated[bool, typer.Option(help="show the progress bar (on stderr)")] = True,
) -> None:
    """Fine-tune a student on exported data (SFT or DPO, through TRL, optional LoRA)."""
    from pydantic import ValidationError

    from tracemint.train.config import TrainConfig
    from tracemint.train.trainer import train as run_training

    try:
        cfg = TrainConfig(
            method=method,  # type: ignore[arg-type]
            model=model,
            out=out,
            lora=lora,
            max_steps=max_steps,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            max_seq_len=max_seq_len,
            seed=seed,
        )
    except ValidationError as e:
        # one line per bad option, named as typed (pydantic's own text adds a URL per error)
        bad = "; ".join(
            f"--{'.'.join(str(x) for x in err['loc']).replace('_', '-')}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(f"invalid train option: {bad}") from None
    _out_dir(out)
    s = run_training(cfg, data, progress=progress)
    sps = s.get("seconds_per_step")
    loss = s.get("final_loss")
    rows = [
        ("method", f"{s['method']} ({'LoRA' if s['lora'] else 'full'}) on {s['device']}"),
        ("steps", f"{s['steps']:,} ({s['steps_this_run']:,} this run)"),
        ("final loss", f"{loss:.4f}" if loss is not None else "-"),
        ("seconds/step", f"{sps:.2f}" if sps is not None else "-"),
        ("saved to", str(s["saved_to"])),
    ]
    if s.get("resumed_from"):
        rows.insert(1, ("resumed from", str(s["resumed_from"])))
    console.print(_summary_table("tracemint train", rows))


@app.command()
@_friendly
def version() -> None:
    """Print the version."""
    print(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
