"""Commands about the model on either side of the data: ``eval`` (a teacher), ``train``
(a student)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tracemint.cli.common import (
    _friendly,
    _knobs,
    _out_dir,
    _summary_table,
    app,
    console,
    note,
)
from tracemint.errors import ConfigError


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


#: a fall of the chosen side's log-probability (nats, whole completion) worth a warning
DISPLACED_NATS = 2.0


def displacement_warning(summary: dict[str, Any]) -> str | None:
    """The warning for a DPO run that made its chosen rationales much less likely (the
    margin grew by pushing both sides down), or None."""
    chosen = summary.get("dpo", {}).get("chosen_logps")
    if not chosen or chosen[1] >= chosen[0] - DISPLACED_NATS:
        return None
    return (
        f"warning: DPO made the chosen rationales less likely ({chosen[0]:.2f} -> "
        f"{chosen[1]:.2f} nats): the margin grew by pushing both down, and the student may "
        "have unlearned what SFT taught it. --nll-weight 1 (RPO) or a lower --lr holds "
        "the chosen side up (docs/student.md)."
    )


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
    loss_on: Annotated[
        str,
        typer.Option(
            help="sft: completion (the answer only: prompt tokens masked) or all (every token)"
        ),
    ] = "completion",
    beta: Annotated[float, typer.Option(help="dpo: temperature on the implicit reward")] = 0.1,
    nll_weight: Annotated[
        float,
        typer.Option(help="dpo: weight of an NLL term on the chosen rationale (RPO); 0: plain"),
    ] = 0.0,
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
            loss_on=loss_on,  # type: ignore[arg-type]
            beta=beta,
            nll_weight=nll_weight,
        )
    except ValidationError as e:
        # one line per bad option, named as typed (pydantic's own text adds a URL per error)
        bad = "; ".join(
            (f"--{'.'.join(str(x) for x in err['loc']).replace('_', '-')}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
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
        *([("loss on", str(s["loss_on"]))] if s.get("loss_on") else []),
        ("final loss", f"{loss:.4f}" if loss is not None else "-"),
        ("seconds/step", f"{sps:.2f}" if sps is not None else "-"),
        ("saved to", str(s["saved_to"])),
    ]
    chosen = s.get("dpo", {}).get("chosen_logps")
    if chosen:
        rows.append(("chosen log-prob", f"{chosen[0]:.2f} -> {chosen[1]:.2f}"))
    if s.get("resumed_from"):
        rows.insert(1, ("resumed from", str(s["resumed_from"])))
    console.print(_summary_table("tracemint train", rows))
    warning = displacement_warning(s)
    if warning:
        note(warning)
