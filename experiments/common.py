"""The loop every experiment shares: mint -> export -> ``tracemint train`` -> ``tracemint eval``.

Each step is the real command in a subprocess (``tracemint run RECIPE``, ``tracemint train``,
``tracemint eval``), so an experiment exercises exactly what a user runs; only the problem
files and the tiny student's starting point are made here in Python.

Why one shared starting point per seed: every condition of a seed trains the *same* initial
student (one tokenizer trained on the union of the conditions' texts, one seeded init), so
conditions differ only in their training rows, not in tokenizer or initial weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
BARE_TEMPLATE = Path(__file__).resolve().parent / "templates" / "bare.jinja"
# the answer task of an sft_multitask export: "[answer] QUESTION"
ANSWER_TASK_TEMPLATE = Path(__file__).resolve().parent / "templates" / "answer_task.jinja"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Condition:
    """One training condition: which mint it reads and which export files it trains on."""

    name: str
    mint: str  # the mint run that supplies its rows (several conditions share one)
    # the messages layout, as when the recorded results were made (sft is now TRL's
    # prompt-completion layout; sft_partial writes messages, and one training file must
    # hold one layout)
    files: tuple[str, ...] = ("sft_messages.jsonl",)
    label: str = ""
    # the prompt layout the student is evaluated with (the one its rows trained it on)
    eval_template: Path = BARE_TEMPLATE
    # > 0: SFT for (1 - share) of the steps, then DPO on the mint's dpo.jsonl pairs for the
    # rest, from the SFT checkpoint (the same total steps as a plain SFT condition)
    dpo_share: float = 0.0
    # DPO's NLL term on the chosen rationale (RPO); 0: plain DPO
    dpo_nll_weight: float = 0.0
    # where the DPO pairs come from: "teacher" (the mint's dpo export: the teacher's verified
    # and wrong traces) or "student" (on-policy: the SFT stage's own samples on the training
    # problems, minted with it as a `local` teacher and verified the same way)
    pairs_from: Literal["teacher", "student"] = "teacher"


# The mints: teacher mode and selection. The three noisy mints sample the same traces (same
# teacher, seed and problems); only what verification lets through differs.
_MINT = {"answer_only": False, "noisy": True, "keep": "correct", "steps": False, "mc": False}
MINTS: dict[str, dict[str, Any]] = {
    "answer_only": {**_MINT, "answer_only": True, "noisy": False},
    "gold": {**_MINT, "noisy": False},
    "noisy": {**_MINT, "keep": "all"},
    "noisy_answer": _MINT,
    "noisy_steps": {**_MINT, "steps": True},  # the step checker's labels
    "noisy_mc": {**_MINT, "mc": True},  # Monte-Carlo step labels (rollouts), not the checker
}

CONDITIONS: tuple[Condition, ...] = (
    Condition("answer_only", "answer_only", label="answer only"),
    Condition("gold", "gold", label="gold rationales"),
    Condition("noisy", "noisy", label="noisy, unfiltered"),
    Condition("noisy_answer", "noisy_answer", label="noisy, answer-verified"),
    Condition("noisy_steps", "noisy_steps", label="noisy, answer+step-verified"),
    Condition(
        "noisy_steps_prefixes",
        "noisy_steps",
        ("sft_messages.jsonl", "sft_partial.jsonl"),
        label="answer+step-verified + verified prefixes",
    ),
    # issue 20: what the preference and process exports and multi-task rationales add
    Condition(
        "noisy_steps_dpo",
        "noisy_steps",
        label="answer+step-verified, then DPO on verified pairs",
        dpo_share=0.2,
    ),
    Condition(
        "noisy_steps_rpo",
        "noisy_steps",
        label="answer+step-verified, then DPO + NLL (RPO) on verified pairs",
        dpo_share=0.2,
        dpo_nll_weight=1.0,
    ),
    Condition(
        "noisy_steps_rpo_self",
        "noisy_steps",
        label="answer+step-verified, then DPO + NLL on the student's own verified pairs",
        dpo_share=0.2,
        dpo_nll_weight=1.0,
        pairs_from="student",
    ),
    Condition("noisy_mc", "noisy_mc", label="noisy, answer + Monte-Carlo-label-verified"),
    Condition(
        "gold_multitask",
        "gold",
        ("sft_multitask.jsonl",),
        label="gold rationales as a second task",
        eval_template=ANSWER_TASK_TEMPLATE,
    ),
)


# the six conditions of the first suite (its recorded commands name no conditions);
# ``--conditions all`` adds issue 20's
DEFAULT_CONDITIONS = tuple(c.name for c in CONDITIONS[:6])


@dataclass
class Setup:
    """Everything that decides an experiment's numbers (stored in the results json)."""

    family: str
    knobs: dict[str, Any]
    id_difficulty: int
    ood_difficulty: int
    ood_knobs: dict[str, Any] = field(default_factory=dict)  # over ``knobs`` for OOD only
    n_train: int = 400
    n_eval: int = 100
    samples: int = 2  # teacher samples per training problem (every condition)
    noise: float = 0.3  # probability that a checkable step slips
    propagate: float = 0.5  # share of slips that later steps carry to the answer
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    layers: int = 2
    d_model: int = 128
    heads: int = 4
    vocab_size: int = 512
    steps: int = 200
    batch_size: int = 16
    lr: float = 2e-3
    max_seq_len: int = 192
    max_new_tokens: int = 128
    eval_seed: int = 10_000  # held-out problems: one set for every seed and condition
    # torch's intra-op threads for training and eval: a float sum's order depends on it, so
    # a rerun repeats a record's digits only with the same count (the default is the core
    # count, which differs between machine kinds)
    threads: int = 2
    mc_rollouts: int = 4  # Monte-Carlo continuations per step prefix (noisy_mc)
    self_samples: int = 4  # the student's samples per training problem (pairs_from student)
    dpo_lr_scale: float = 0.1  # DPO's learning rate is lr times this (noisy_steps_dpo)
    conditions: list[str] = field(default_factory=lambda: list(DEFAULT_CONDITIONS))


# In-process mode runs the same Typer app in this process (what the test uses: importing
# torch and TRL once instead of once per command); the default is a real subprocess.
INPROCESS = False
THREADS = 2  # set by pin_threads() from the experiment's Setup before the first command


def pin_threads(threads: int) -> None:
    """Every later command (subprocess or in-process) runs torch with ``threads`` threads."""
    global THREADS
    THREADS = threads
    if INPROCESS:
        import torch

        torch.set_num_threads(threads)


#: the packages whose versions decide an experiment's numbers (all of them, with the lock's
#: digest, are in the record; these are also listed by name for a reader)
KEY_PACKAGES = ("torch", "transformers", "trl", "peft", "tokenizers", "safetensors", "numpy")


def lock_digest(lock: Path) -> str:
    """sha256 of a lock's requirement lines (comments and blank lines left out)."""
    import hashlib

    lines = [li.strip() for li in lock.read_text().splitlines()]
    kept = "\n".join(li for li in lines if li and not li.startswith("#"))
    return hashlib.sha256(kept.encode()).hexdigest()


def environment(threads: int) -> dict[str, Any]:
    """What a rerun needs to match to repeat a record's numbers exactly: the lock (its
    digest, and whether this venv is exactly it), every installed version, the torch threads
    and dtypes, the Python and the machine."""
    import platform
    from importlib import metadata

    lock = ROOT / "requirements" / "lock.txt"
    pins: dict[str, str] = {}
    if lock.is_file():
        for line in lock.read_text().splitlines():
            if line[:1].isalnum() and "==" in line:
                name, _, rest = line.partition("==")
                pins[name.strip().lower()] = rest.split()[0].rstrip("\\;")
    installed = {
        (d.metadata["Name"] or "").lower().replace("_", "-"): d.version
        for d in metadata.distributions()
    }
    differs = {n: [v, installed.get(n)] for n, v in pins.items() if installed.get(n) != v}
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": threads,
        "torch_dtype": {
            "student_weights": "float32",
            "train_autocast": "bf16 where the CPU has native bf16 kernels (each run's bf16)",
        },
        # of the pins and hashes only: a regenerated header or "# via" comment is no new lock
        "lock_sha256": lock_digest(lock) if lock.is_file() else None,
        "lock_matches_venv": bool(pins) and not differs,
        "lock_differs": dict(sorted(differs.items())),
        "key_packages": {p: installed.get(p) for p in KEY_PACKAGES},
        "torch_config": {
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "cuda": torch.version.cuda,
        },
        "packages": dict(sorted(installed.items())),
    }


def tracemint(args: Sequence[str], *, log: Path) -> float:
    """Run ``tracemint ARGS`` (the venv's console script); seconds taken. Output goes to
    ``log``; a failure raises with the log's tail, so an experiment never goes on silently."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if INPROCESS:
        return _tracemint_inprocess(args, log)
    cmd = [str(BIN / "tracemint"), *args]
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        # torch reads these at start-up for its intra-op pool (see Setup.threads)
        env |= {"OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}); {log}:\n{tail}")
    return time.perf_counter() - t0


def _tracemint_inprocess(args: Sequence[str], log: Path) -> float:
    from typer.testing import CliRunner

    from tracemint.cli import app

    t0 = time.perf_counter()
    result = CliRunner().invoke(app, list(args))
    with log.open("a", encoding="utf-8") as f:
        f.write("$ tracemint " + " ".join(args) + "\n" + result.output)
    if result.exit_code != 0:
        raise RuntimeError(
            f"tracemint {args[0]} failed ({result.exit_code}): {result.output[-3000:]}"
        ) from result.exception
    return time.perf_counter() - t0


# -- problems ---------------------------------------------------------------------------


def write_problems(
    setup: Setup,
    path: Path,
    split: str,
    n: int,
    seed: int,
    exclude: set[str],
) -> list[str]:
    """``n`` family problems of ``split`` ("id" or "ood") as JSONL rows (question, answer,
    gold rationale, family metadata, so the run judges them with the family's own check);
    questions in ``exclude`` are skipped, so held-out problems never appear in training.
    Ids start with the split: accuracy is read per split from the eval's problem list."""
    from tracemint.synth.base import create_family, generate
    from tracemint.synth.records import item_row

    knobs = {**setup.knobs, **(setup.ood_knobs if split == "ood" else {})}
    difficulty = setup.ood_difficulty if split == "ood" else setup.id_difficulty
    family = create_family(setup.family, {**knobs, "difficulty": difficulty})
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(generate(family, n + len(exclude), seed)):
        if item.question in exclude:
            continue
        row = item_row(family, item, i, seed)
        row["id"] = f"{split}-{setup.family}-d{difficulty}-{seed}-{i}"
        rows.append(row)
        if len(rows) == n:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return [r["question"] for r in rows]


# -- mint -------------------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_recipe(path: Path, tables: dict[str, Any]) -> Path:
    """A recipe TOML from nested dicts (top-level scalars first, then one table each)."""
    lines = [f"{k} = {_toml(v)}" for k, v in tables.items() if not isinstance(v, dict)]
    for name, table in tables.items():
        if isinstance(table, dict):
            lines.append(f"\n[{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mint(setup: Setup, mint_name: str, seed: int, train_file: Path, work: Path) -> Path:
    """``tracemint run`` one mint of a seed; returns its run directory."""
    mode = MINTS[mint_name]
    name = f"{mint_name}-s{seed}"
    recipe = write_recipe(
        work / "recipes" / f"{name}.toml",
        {
            "name": name,
            "runs_dir": str(work / "mints"),
            "source": {"type": "file", "path": str(train_file), "id_field": "id"},
            "teacher": {
                "type": "noisy_gold",
                "problems": str(train_file),
                "noise": setup.noise if mode["noisy"] else 0.0,
                "propagate": setup.propagate,
                "answer_only": mode["answer_only"],
                "seed": seed,
            },
            "sampling": {"temperature": 0.7, "max_tokens": 512, "seed": seed},
            "budget": {"samples": setup.samples},
            "verify": {"steps": True},
            "select": {
                "keep": mode["keep"],
                "reject_wrong_steps": mode["steps"],
                **({"reject_mc_errors": True} if mode["mc"] else {}),
            },
            **(
                {"montecarlo": {"enabled": True, "k": setup.mc_rollouts, "apply_to": "correct"}}
                if mode["mc"]
                else {}
            ),
            "export": {
                "formats": ["sft_messages", "sft_partial", "sft_multitask", "dpo"],
                "file_types": ["jsonl"],
            },
        },
    )
    run_dir = work / "mints" / name
    # a mint that an interrupted experiment left half done continues from its cache
    again = ["--resume"] if (run_dir / "manifest.json").exists() else []
    tracemint(["run", str(recipe), "--no-progress", *again], log=work / "logs" / f"{name}.log")
    return run_dir


def mint_stats(run_dir: Path) -> dict[str, Any]:
    """What verification saw in a mint: traces, wrong answers, wrong steps, rows exported."""
    from tracemint.store import RunStore

    rows = (
        RunStore(run_dir)
        .read_traces(columns=["verdict", "first_wrong_step", "accepted"])
        .to_pylist()
    )
    n = len(rows)
    return {
        "traces": n,
        "answer_wrong": sum(r["verdict"] != "correct" for r in rows),
        "step_wrong": sum(r["first_wrong_step"] is not None for r in rows),
        "step_wrong_answer_right": sum(
            r["first_wrong_step"] is not None and r["verdict"] == "correct" for r in rows
        ),
        "accepted": sum(bool(r["accepted"]) for r in rows),
        "sft_rows": count_rows(run_dir / "export" / "sft_messages.jsonl"),
        "sft_partial_rows": count_rows(run_dir / "export" / "sft_partial.jsonl"),
        "dpo_pairs": count_rows(run_dir / "export" / "dpo.jsonl"),
    }


def count_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def training_file(run_dir: Path, files: Sequence[str], out: Path) -> int:
    """Concatenate a mint's export files into one SFT JSONL; returns the row count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for name in files:
            path = run_dir / "export" / name
            if not path.is_file():
                continue
            with path.open(encoding="utf-8") as rows:
                for line in rows:
                    if line.strip():
                        f.write(line if line.endswith("\n") else line + "\n")
                        n += 1
    return n


# -- student ----------------------------------------------------------------------------


def base_student(setup: Setup, sft_files: Sequence[Path], out: Path, seed: int) -> dict[str, Any]:
    """One seeded tiny student + tokenizer shared by every condition of a seed."""
    from tracemint.train.tiny import init_student, texts_from_sft

    texts = [t for p in sft_files if count_rows(p) for t in texts_from_sft(p)]
    init_student(
        texts,
        out,
        vocab_size=setup.vocab_size,
        layers=setup.layers,
        d_model=setup.d_model,
        heads=setup.heads,
        max_len=max(256, setup.max_seq_len),
        seed=seed,
    )
    return student_info(out)


def student_info(folder: Path) -> dict[str, Any]:
    """Vocabulary and parameter count of a saved student."""
    import torch
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    weights = load_file(str(folder / "model.safetensors"))
    params = sum(int(torch.numel(t)) for t in weights.values())
    return {"vocab": config["vocab_size"], "params": params}


def train(
    setup: Setup,
    data: Path,
    base: Path,
    out: Path,
    seed: int,
    log: Path,
    *,
    method: str = "sft",
    steps: int | None = None,
    lr: float | None = None,
    nll_weight: float = 0.0,
) -> dict[str, Any]:
    """``tracemint train`` (full fine-tuning, fp32 on the CPU); the train summary.

    SFT's loss is on every token, as the recorded results were trained (``tracemint train``
    now defaults to the completion only), so a rerun reproduces them."""
    steps = setup.steps if steps is None else steps
    lr = setup.lr if lr is None else lr
    loss = ["--loss-on", "all"] if method == "sft" else ["--nll-weight", str(nll_weight)]
    args = [
        "train", str(data), "--out", str(out), "--model", str(base), "--no-lora",
        "--method", method, *loss,
        "--max-steps", str(steps), "--batch-size", str(setup.batch_size),
        "--lr", str(lr), "--max-seq-len", str(setup.max_seq_len), "--seed", str(seed),
    ]  # fmt: skip
    seconds = tracemint(args, log=log)
    summary: dict[str, Any] = json.loads((out / "train_summary.json").read_text())
    summary["command_seconds"] = seconds
    return summary


def evaluate(
    setup: Setup,
    model_dir: Path,
    eval_file: Path,
    name: str,
    work: Path,
    template: Path = BARE_TEMPLATE,
) -> dict[str, Any]:
    """``tracemint eval`` greedy, k = 1, on the held-out file (ID and OOD difficulties)."""
    args = [
        "eval", "--name", name, "--runs-dir", str(work / "evals"),
        "--teacher", f"local:{model_dir}", "--data", str(eval_file), "--k", "1",
        "--temperature", "0", "--max-tokens", str(setup.max_new_tokens),
        "--strategy", str(template), "--no-progress", "--fresh",
    ]  # fmt: skip
    seconds = tracemint(args, log=work / "logs" / f"eval-{name}.log")
    result: dict[str, Any] = json.loads((work / "evals" / name / "eval.json").read_text())
    result["command_seconds"] = seconds
    return result


def splits(eval_file: Path) -> list[str]:
    """The split ("id"/"ood") of each row of the held-out file, in file order."""
    lines = eval_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["id"].split("-")[0] for line in lines if line.strip()]


def accuracy(result: dict[str, Any], split: str, row_splits: list[str]) -> tuple[float, int]:
    """(accuracy, problems) of one split of an eval result: correct samples over all samples.
    ``tracemint eval --data FILE`` names problems ``FILE_STEM:ROW``, so the row index finds
    the split."""
    mine = [
        p for p in result["problems"] if row_splits[int(p["problem_id"].rsplit(":", 1)[1])] == split
    ]
    if not mine:
        raise KeyError(f"no {split} problems in eval result {result.get('run')}")
    samples = sum(p["n"] for p in mine)
    return sum(p["correct"] for p in mine) / samples, len(mine)


def run_seed(
    setup: Setup, seed: int, eval_file: Path, eval_questions: set[str], work: Path
) -> list[dict[str, Any]]:
    """All conditions of one seed: problems, mints, shared base student, train and eval."""
    seed_dir = work / f"seed{seed}"
    train_file = seed_dir / "train.jsonl"
    if train_file.exists():
        train_file.unlink()
    write_problems(setup, train_file, "train", setup.n_train, 1000 + seed, eval_questions)
    wanted = [c for c in CONDITIONS if c.name in setup.conditions]
    mints: dict[str, Path] = {}
    stats: dict[str, dict[str, Any]] = {}
    for m in dict.fromkeys(c.mint for c in wanted):
        t0 = time.perf_counter()
        mints[m] = mint(setup, m, seed, train_file, seed_dir)
        stats[m] = {**mint_stats(mints[m]), "seconds": round(time.perf_counter() - t0, 2)}
    data: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for c in wanted:
        data[c.name] = seed_dir / "data" / f"{c.name}.jsonl"
        rows[c.name] = training_file(mints[c.mint], c.files, data[c.name])
    base = seed_dir / "base"
    row_splits = splits(eval_file)
    student = base_student(setup, [data[c.name] for c in wanted], base, seed)
    results = []
    for c in wanted:
        record: dict[str, Any] = {"condition": c.name, "seed": seed, "train_rows": rows[c.name]}
        record["mint"] = stats[c.mint]
        record["student"] = student
        if rows[c.name] == 0:  # nothing survived selection: the condition cannot train
            record.update(id_accuracy=None, ood_accuracy=None, note="no training rows")
            results.append(record)
            continue
        t0 = time.perf_counter()
        summary = train_condition(setup, c, data[c.name], mints[c.mint], base, seed, work)
        if summary is None:  # no preference pair to train DPO on
            record.update(id_accuracy=None, ood_accuracy=None, note="no dpo pairs")
            results.append(record)
            continue
        record["train_stages"] = summary.get("stages")
        if "self_mint" in summary:
            record["self_mint"] = summary["self_mint"]
        model = Path(summary["saved_to"])
        ev = evaluate(setup, model, eval_file, f"{c.name}-s{seed}", work, c.eval_template)
        record["id_accuracy"], record["n_id"] = accuracy(ev, "id", row_splits)
        record["ood_accuracy"], record["n_ood"] = accuracy(ev, "ood", row_splits)
        record["final_loss"] = summary.get("final_loss")
        record["train_bf16"] = summary.get("bf16")  # autocast on: a dtype the record depends on
        record["train_seconds"] = summary.get("wall_seconds")
        record["eval_run"] = ev["run"]
        record["seconds"] = round(time.perf_counter() - t0, 2)
        results.append(record)
        print(
            f"  seed {seed} {c.name:22s} rows {rows[c.name]:5d}  ID {record['id_accuracy']:.3f}"
            f"  OOD {record['ood_accuracy']:.3f}  ({record['seconds']:.0f}s)",
            flush=True,
        )
    return results


def train_condition(
    setup: Setup, c: Condition, data: Path, mint_dir: Path, base: Path, seed: int, work: Path
) -> dict[str, Any] | None:
    """Train one condition's student: SFT, or SFT then DPO (``dpo_share``) at the same total
    steps; the last stage's summary, with every stage's under ``stages``."""
    seed_dir = work / f"seed{seed}"
    out = seed_dir / "students" / c.name
    log = work / "logs" / f"train-{c.name}-s{seed}.log"
    if not c.dpo_share:
        return train(setup, data, base, out, seed, log)
    dpo_steps = max(1, round(setup.steps * c.dpo_share))
    sft_out = seed_dir / "students" / f"{c.name}-sft"
    sft = train(setup, data, base, sft_out, seed, log, steps=setup.steps - dpo_steps)
    if c.pairs_from == "student":
        pairs = self_pairs(setup, Path(sft["saved_to"]), c.name, seed, work)
    else:
        pairs = mint_dir / "export" / "dpo.jsonl"
    if not count_rows(pairs):
        return None
    dpo = train(
        setup,
        pairs,
        Path(sft["saved_to"]),
        out,
        seed,
        log,
        method="dpo",
        steps=dpo_steps,
        lr=setup.lr * setup.dpo_lr_scale,
        nll_weight=c.dpo_nll_weight,
    )
    dpo["stages"] = [
        {k: s.get(k) for k in ("method", "rows", "final_loss", "wall_seconds")}
        | {"steps": n, "lr": s["config"]["lr"], "nll_weight": s["config"]["nll_weight"]}
        | ({"dpo": s["dpo"]} if "dpo" in s else {})
        for s, n in ((sft, setup.steps - dpo_steps), (dpo, dpo_steps))
    ]
    dpo["dpo_pairs"] = count_rows(pairs)
    if c.pairs_from == "student":  # what the student's own samples looked like
        dpo["self_mint"] = mint_stats(pairs.parent.parent)
    return dpo


def self_pairs(setup: Setup, model: Path, name: str, seed: int, work: Path) -> Path:
    """On-policy preference pairs: ``tracemint run`` with the SFT student as a ``local``
    teacher on the seed's training problems (the bare prompt it was trained on), verified by
    answer and steps like the teacher's traces; returns the run's ``dpo.jsonl``."""
    seed_dir = work / f"seed{seed}"
    run_name = f"{name}-self-s{seed}"
    recipe = write_recipe(
        seed_dir / "recipes" / f"{run_name}.toml",
        {
            "name": run_name,
            "runs_dir": str(seed_dir / "mints"),
            "source": {"type": "file", "path": str(seed_dir / "train.jsonl"), "id_field": "id"},
            "teacher": {"type": "local", "path": str(model), "threads": setup.threads},
            "strategy": {"name": str(BARE_TEMPLATE)},
            "sampling": {"temperature": 0.7, "max_tokens": setup.max_new_tokens, "seed": seed},
            "budget": {"samples": setup.self_samples},
            "verify": {"steps": True},
            "select": {"keep": "correct", "reject_wrong_steps": True},
            "export": {"formats": ["dpo"], "file_types": ["jsonl"]},
        },
    )
    run_dir = seed_dir / "mints" / run_name
    again = ["--resume"] if (run_dir / "manifest.json").exists() else []
    tracemint(["run", str(recipe), "--no-progress", *again], log=work / "logs" / f"{run_name}.log")
    return run_dir / "export" / "dpo.jsonl"


def collect_seed(setup: Setup, seed: int, eval_file: Path, work: Path) -> list[dict[str, Any]]:
    """The records of one seed rebuilt from what its run left on disk (mints, data files,
    train summaries, eval.json): the conditions that finished, for a run that was stopped."""
    seed_dir = work / f"seed{seed}"
    row_splits = splits(eval_file)
    records = []
    for c in CONDITIONS:
        if c.name not in setup.conditions:
            continue
        ev_path = work / "evals" / f"{c.name}-s{seed}" / "eval.json"  # (the last stage's)
        summary_path = seed_dir / "students" / c.name / "train_summary.json"
        if not ev_path.is_file() or not summary_path.is_file():
            continue
        ev = json.loads(ev_path.read_text())
        summary = json.loads(summary_path.read_text())
        record: dict[str, Any] = {
            "condition": c.name,
            "seed": seed,
            "train_rows": count_rows(seed_dir / "data" / f"{c.name}.jsonl"),
            "mint": mint_stats(seed_dir / "mints" / f"{c.mint}-s{seed}"),
            "final_loss": summary.get("final_loss"),
            "train_bf16": summary.get("bf16"),
            "train_seconds": summary.get("wall_seconds"),
            "eval_run": ev["run"],
            "student": student_info(seed_dir / "base"),
            "collected": True,
        }
        record["id_accuracy"], record["n_id"] = accuracy(ev, "id", row_splits)
        record["ood_accuracy"], record["n_ood"] = accuracy(ev, "ood", row_splits)
        records.append(record)
    return records


def setup_dict(setup: Setup) -> dict[str, Any]:
    return asdict(setup)
