"""``tracemint serve-test``: the shipped OpenAI-compatible test server."""

from __future__ import annotations

import typer

from tracemint.cli.common import _friendly, app


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
