"""Commands that read a finished run: ``export``, ``report``, ``view``, ``push``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from tracemint import api
from tracemint.cli.common import _friendly, _out_dir, _summary_table, app, console


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
    if out is not None:
        _out_dir(out)
    formats = [f for part in fmt for f in part.split("|") if f]
    res = api.Run(run_dir).export(
        formats, out, file_types=file_type or ("jsonl", "parquet"), system_prompt=system_prompt
    )
    rows = [(k, f"{v['rows']:,} rows -> {', '.join(v['files'])}") for k, v in res.items()]
    Console().print(_summary_table("export", rows))


@app.command()
@_friendly
def report(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """(Re)build a run's report.html and print its summary."""
    result = api.Run(run_dir)
    path = result.report()
    Console().print(_summary_table(f"report -> {path}", result.summary()))


@app.command()
@_friendly
def view(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    port: Annotated[int, typer.Option(help="port; 0 picks a free one")] = 0,
    host: Annotated[str, typer.Option(help="address to bind (keep it local)")] = "127.0.0.1",
) -> None:
    """Browse and label a run's traces in a local web page (Ctrl-C to stop)."""
    from tracemint.view import serve

    try:
        serve(run_dir, host=host, port=port)
    except KeyboardInterrupt:
        console.print("viewer stopped")


@app.command()
@_friendly
def push(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    repo_id: Annotated[str, typer.Argument(help="Hub dataset repo, e.g. you/gsm8k-traces")],
    private: Annotated[bool, typer.Option(help="create the repo private")] = False,
    include_cache: Annotated[
        bool, typer.Option(help="also upload cache.sqlite (every raw completion of the run)")
    ] = False,
    revision: Annotated[
        str | None, typer.Option(help="an existing branch to push to (default: main)")
    ] = None,
) -> None:
    """Upload a run to the Hugging Face Hub as a dataset: card, traces, exports, report.

    The token is huggingface_hub's (HF_TOKEN, or `hf auth login`); tracemint never stores one.
    """
    url = api.Run(run_dir).push(
        repo_id, private=private, include_cache=include_cache, revision=revision
    )
    console.print(f"pushed {run_dir} to {repo_id}: {url}")
