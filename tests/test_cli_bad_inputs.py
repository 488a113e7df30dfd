"""No traceback for a user, ever: every CLI command, fed bad paths, answers with one
``error:`` line and a non-zero exit code.

The commands come from the typer app itself, so a new command is covered the day it is
added: its path parameters get the bad inputs on their own, and a command that needs other
arguments to get as far as its paths fails ``test_every_command_is_covered`` until
``SLOTS`` says how to call it. Most cases run in-process (``CliRunner``: the same
``_friendly`` wrapper and code path, without ~1 s of imports each); every command also runs
once as a real ``python -m tracemint.cli`` subprocess, and every kind of bad input is among
those. Besides the bad paths: install hints keep their extra, ``--version``, ``-h``,
``export --help`` listing the registered formats, ``serve-test --help`` showing the
server's options, the last-resort line for a bug, and the progress bar of ``probe``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from tracemint import __version__
from tracemint.cli import app

runner = CliRunner()


@dataclass(frozen=True)
class Param:
    """A command parameter, as its function declares it."""

    name: str  # the Python name, e.g. run_dir
    is_path: bool  # annotated Path (or Path | None)
    required: bool
    flag: str | None  # --out; None for a positional argument


def _params(fn: Callable[..., Any]) -> list[Param]:
    hints = typing.get_type_hints(fn, include_extras=True)
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        hint = hints.get(name)
        meta = getattr(hint, "__metadata__", ())
        spec = next(
            (m for m in meta if isinstance(m, typer.models.OptionInfo | typer.models.ArgumentInfo)),
            None,
        )
        if spec is None:  # the typer.Context
            continue
        base = typing.get_args(hint)[0]
        is_path = Path in (base, *typing.get_args(base))
        flag = None
        if isinstance(spec, typer.models.OptionInfo):
            decls = [d for d in spec.param_decls or () if d.startswith("--")]
            flag = decls[0] if decls else "--" + name.replace("_", "-")
        out.append(Param(name, is_path, p.default is inspect.Parameter.empty, flag))
    return out


# Every command registered on the app (typer's naming: eval_ is registered as "eval",
# serve_test as "serve-test"), with its parameters
COMMANDS: dict[str, list[Param]] = {
    (info.name or info.callback.__name__.lower().replace("_", "-")): _params(info.callback)
    for info in app.registered_commands
    if info.callback is not None
}

# Kinds of bad input for a path that should name an existing input (a data file, a recipe,
# a run directory). Each role below builds them its own way.
INPUT_KINDS = (
    "missing",
    "directory",
    "binary",
    "brackets_missing",  # data[/x].toml: rich would read [/x] as a closing tag
    "brackets_real",  # a real file under [red]/x[/red]: rich would eat the tags
    "empty",
    "huge_line",  # one 5 MB line
    "nested",  # [[[[...]]]] x 100,000: a RecursionError in any recursive parser
    "wrong_ext",
)
OUT_FILE_KINDS = ("directory", "under_file")
OUT_DIR_KINDS = ("file", "under_file")
ROLE_KINDS: dict[str, tuple[str, ...]] = {
    "data": INPUT_KINDS,
    "recipe": INPUT_KINDS,
    "run": INPUT_KINDS,
    # the test server reads its answers as JSON lines whatever the name: no wrong extension
    "answers": tuple(k for k in INPUT_KINDS if k != "wrong_ext"),
    # a prompt template named by path (eval --strategy, a recipe's strategy.name)
    "template": ("missing", "directory", "binary", "brackets_real", "nested"),
    "out_file": OUT_FILE_KINDS,
    "out_dir": OUT_DIR_KINDS,
}
HUGE = 5_000_000
NESTED = "[" * 100_000 + "]" * 100_000
ROWS = [
    {"question": "What is 2+3?", "answer": "5", "completion": "2+3 = 5. The answer is 5."},
    {"question": "What is 4+4?", "answer": "8", "completion": "4+4 = 8. The answer is 8."},
]
SFT_ROWS = [
    {
        "messages": [
            {"role": "user", "content": r["question"]},
            {"role": "assistant", "content": r["completion"]},
        ],
        "problem_id": f"p{i}",
    }
    for i, r in enumerate(ROWS)
]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


class Files:
    """Every bad (and the few good) paths, made once per module: a 5 MB file per test would
    cost more than the commands."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = self._write("ok/problems.jsonl", _jsonl(ROWS))
        self.sft = self._write("ok/sft.jsonl", _jsonl(SFT_ROWS))
        self.out_dir = root / "ok" / "outdir"
        self.no_run = root / "ok" / "no-run"  # a valid argument elsewhere; never created
        self.a_file = self._write("ok/a-file.txt", "a regular file\n")

    def _write(self, rel: str, content: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def out(self, name: str) -> Path:
        return self.root / "outputs" / name

    def bad(self, role: str, kind: str) -> Path:
        """The bad path of ``kind`` for a parameter playing ``role`` (created lazily)."""
        if role in ("out_file", "out_dir"):
            return self._bad_output(role, kind)
        ext = {"recipe": ".toml", "template": ".jinja"}.get(role, ".jsonl")
        base = self.root / role
        binary = b"\x80\xff\xfe" + bytes(range(256)) * 64
        contents: dict[str, str | bytes] = {
            "binary": binary,
            "empty": "",
            "huge_line": '{"question": "' + "x" * HUGE + "\n",  # never closed
            "nested": NESTED + "\n",
        }
        if role == "recipe":
            contents["huge_line"] = 'name = "' + "x" * HUGE + "\n"
            contents["nested"] = "a = " + NESTED + "\n"
        if role == "template":
            contents["nested"] = "{{ " + NESTED + " }}\n"
        if kind == "missing":
            return base / f"missing{ext}"
        if kind == "brackets_missing":
            return base / "data[" / f"x]{ext}"  # data[/x].toml, its folder missing too
        if role == "run":
            # a run directory's manifest carries the bad content; a file stands in for
            # the wrong kind of path (a data file given where a run directory is expected)
            if kind == "directory":
                return self._dir(base / "no-manifest")
            if kind == "brackets_real":
                return self._manifest(base / "[red]" / "x[" / "red]", '{"x":\n')
            if kind == "wrong_ext":
                return self._write(f"{role}/problems.jsonl", _jsonl(ROWS))
            return self._manifest(base / kind, contents[kind])
        if kind == "directory":
            return self._dir(base / "a-directory")
        if kind == "brackets_real":  # .../[red]/x[/red].jsonl, holding no valid row
            bad = "{{" if role == "template" else "not {"  # (a Jinja syntax error)
            return self._write(f"{role}/[red]/x[/red]{ext}", bad)  # folders [red], x[
        if kind == "wrong_ext":
            # good rows under a name no reader takes; for run, the problems file itself
            name = "problems.txt" if role != "recipe" else "problems.jsonl"
            return self._write(f"{role}/{name}", _jsonl(ROWS))
        return self._write(f"{role}/{kind}{ext}", contents[kind])

    def _bad_output(self, role: str, kind: str) -> Path:
        if kind == "under_file":  # the folder it would go in is a regular file
            return self.a_file / ("out.jsonl" if role == "out_file" else "outdir")
        if kind == "directory":
            return self._dir(self.root / "outputs" / "a-directory")
        assert kind == "file"
        return self.a_file

    def _dir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _manifest(self, run: Path, content: str | bytes) -> Path:
        run.mkdir(parents=True, exist_ok=True)
        rel = (run / "manifest.json").relative_to(self.root)
        self._write(str(rel), content)
        return run


@dataclass(frozen=True)
class Slot:
    """One path parameter of a command: where the bad path goes, the rest kept valid."""

    param: str  # the click parameter's name
    role: str  # a key of ROLE_KINDS
    argv: Callable[[Path, Files], list[str]]


def _auto_slots(name: str, params: list[Param]) -> list[Slot]:
    """Slots for a command ``SLOTS`` does not know: each of its path parameters, alone."""
    slots = []
    for p in params:
        if not p.is_path:
            continue
        role = "run" if "run" in p.name else "data"
        if p.flag is None:
            slots.append(Slot(p.name, role, lambda b, f, n=name: [n, str(b)]))
        else:
            slots.append(Slot(p.name, role, lambda b, f, n=name, o=p.flag: [n, o, str(b)]))
    return slots


def _run_dir(command: str, *rest: str) -> Slot:
    return Slot("run_dir", "run", lambda b, f: [command, str(b), *rest])


SLOTS: dict[str, list[Slot]] = {
    "run": [Slot("recipe", "recipe", lambda b, f: ["run", str(b), "--no-progress"])],
    "verify": [
        Slot("path", "data", lambda b, f: ["verify", str(b), "--out", str(f.out("v.jsonl"))]),
        Slot("out", "out_file", lambda b, f: ["verify", str(f.data), "--out", str(b)]),
    ],
    "generate": [
        Slot(
            "out",
            "out_file",
            lambda b, f: ["generate", "--family", "modular", "--n", "2", "--out", str(b)],
        )
    ],
    "export": [
        _run_dir("export", "--format", "sft"),
        Slot(
            "out",
            "out_dir",
            lambda b, f: ["export", str(f.no_run), "--format", "sft", "--out", str(b)],
        ),
    ],
    "probe": [_run_dir("probe", "--probes", "early", "--no-progress")],
    "variants": [
        Slot("run_dir", "run", lambda b, f: ["variants", str(b), "--out", str(f.out("x.jsonl"))]),
        Slot("out", "out_file", lambda b, f: ["variants", str(f.no_run), "--out", str(b)]),
    ],
    "decontaminate": [
        Slot("path", "data", lambda b, f: _decontaminate(str(b), str(f.data), f)),
        Slot("against", "data", lambda b, f: _decontaminate(str(f.data), str(b), f)),
        Slot("out", "out_file", lambda b, f: _decontaminate(str(f.data), str(f.data), f, out=b)),
        Slot("removed", "out_file", lambda b, f: _decontaminate(str(f.data), str(f.data), f, rm=b)),
    ],
    "report": [_run_dir("report")],
    "view": [_run_dir("view")],
    "push": [_run_dir("push", "me/dataset")],  # refused before any Hub call
    "serve-test": [Slot("--answers", "answers", lambda b, f: ["serve-test", "--answers", str(b)])],
    "eval": [
        Slot("data", "data", lambda b, f: _eval(["--data", str(b)], f.root / "runs")),
        Slot("runs_dir", "out_dir", lambda b, f: _eval(["--data", str(f.data)], b)),
        Slot(
            "strategy",
            "template",
            lambda b, f: _eval(["--data", str(f.data), "--strategy", str(b)], f.root / "runs"),
        ),
    ],
    "train": [
        Slot("data", "data", lambda b, f: ["train", str(b), "--out", str(f.out_dir)]),
        Slot("out", "out_dir", lambda b, f: ["train", str(f.sft), "--out", str(b)]),
    ],
}
NO_PATHS = {"version"}  # commands that take no path at all


def _decontaminate(
    path: str, against: str, f: Files, out: Path | None = None, rm: Path | None = None
) -> list[str]:
    out = out or f.out("kept.jsonl")
    rm = rm or f.out("removed.jsonl")
    return ["decontaminate", path, "--against", against, "--out", str(out), "--removed", str(rm)]


def _eval(data: list[str], runs_dir: Path) -> list[str]:
    return ["eval", "--name", "e", *data, "--runs-dir", str(runs_dir), "--no-progress"]


def _slots() -> dict[str, list[Slot]]:
    return {
        name: SLOTS.get(name) or _auto_slots(name, cmd)
        for name, cmd in COMMANDS.items()
        if name not in NO_PATHS
    }


def _cases() -> Iterator[Any]:
    for name, slots in _slots().items():
        for slot in slots:
            for kind in ROLE_KINDS[slot.role]:
                yield pytest.param(name, slot, kind, id=f"{name}-{slot.param}-{kind}")


def _subprocess_cases() -> Iterator[Any]:
    """One case per command, its first slot; input kinds rotate so each kind runs once."""
    kinds = iter(INPUT_KINDS * 3)
    for name, slots in _slots().items():
        slot = slots[0]
        kind = next(kinds) if slot.role in ("data", "recipe", "run") else ROLE_KINDS[slot.role][0]
        while kind not in ROLE_KINDS[slot.role]:
            kind = next(kinds)
        yield pytest.param(name, slot, kind, id=f"{name}-{slot.param}-{kind}")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEMINT_DEBUG", raising=False)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def assert_one_error_line(rc: int, output: str, names: str | None = None) -> str:
    """Non-zero exit, no traceback, no 'bug' line, exactly one ``error:`` line (a message
    may go on, e.g. one line per bad recipe key, but never starts a second error). Returns
    the error line; ``names`` must appear in it verbatim (a path with brackets included)."""
    output = _plain(output)
    assert rc != 0, output
    assert "Traceback" not in output, output
    assert "this is a bug in tracemint" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    if names is not None:
        assert names in errors[0], output
    return errors[0]


def test_every_command_is_covered() -> None:
    """A command with path parameters has a slot for each; one whose other required
    parameters this file cannot guess must be listed in SLOTS."""
    assert {"run", "verify", "serve-test", "eval", "train"} <= set(COMMANDS)
    for name, params in COMMANDS.items():
        paths = {p.name for p in params if p.is_path}
        if name in NO_PATHS:
            assert not paths, f"{name} takes paths {paths}: give it slots"
            continue
        slots = SLOTS.get(name)
        if slots is None:
            others = [p.name for p in params if p.required and not p.is_path]
            assert not others, f"add {name!r} to SLOTS: it also needs {others}"
            assert paths, f"{name} takes no path: add it to NO_PATHS, or to SLOTS"
            slots = _auto_slots(name, params)
        assert paths <= {s.param for s in slots}, f"{name}: paths {paths} not all covered"


def test_every_command_is_wrapped_by_friendly() -> None:
    """_friendly is what turns any failure into one line: no command may go without it."""
    from tracemint.cli import _friendly

    wrapper_code = _friendly(lambda: None).__code__
    for info in app.registered_commands:
        assert info.callback is not None and info.callback.__code__ is wrapper_code, info.name


@pytest.mark.parametrize(("command", "slot", "kind"), list(_cases()))
def test_bad_path_is_one_error_line(
    command: str, slot: Slot, kind: str, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemint.testing.server as testserver

    def never(*args: Any) -> int:
        raise AssertionError("serve-test accepted a bad --answers file and started")

    monkeypatch.setattr(testserver, "main", never)
    bad = files.bad(slot.role, kind)
    res = runner.invoke(app, slot.argv(bad, files))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    # the path as given must come back verbatim: brackets included, no markup eaten
    assert_one_error_line(res.exit_code, res.output, str(bad))


@pytest.mark.parametrize(("command", "slot", "kind"), list(_subprocess_cases()))
def test_bad_path_in_a_real_process(command: str, slot: Slot, kind: str, files: Files) -> None:
    bad = files.bad(slot.role, kind)
    env = {k: v for k, v in os.environ.items() if k not in ("TRACEMINT_DEBUG", "FORCE_COLOR")}
    proc = subprocess.run(
        [sys.executable, "-m", "tracemint.cli", *slot.argv(bad, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert_one_error_line(proc.returncode, proc.stdout + proc.stderr, str(bad))


def test_brackets_in_a_good_path_print_verbatim(tmp_path: Path) -> None:
    out = tmp_path / "o[/x]" / "[bold]p.jsonl"
    res = runner.invoke(app, ["generate", "--family", "modular", "--n", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and str(out) in res.output


# -- install hints ----------------------------------------------------------------------------


def _ray_hint(files: Files, tmp_path: Path) -> list[str]:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'name = "hint"\nruns_dir = {json.dumps(str(tmp_path / "runs"))}\n'
        f'[source]\ntype = "file"\npath = {json.dumps(str(files.data))}\n'
        '[teacher]\ntype = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    return ["run", str(recipe), "--runner", "ray", "--no-progress"]


HINTS: list[tuple[str, str, Callable[[Files, Path], list[str]]]] = [
    ("ray", "ray", _ray_hint),
    ("train", "trl", lambda f, t: ["train", str(f.sft), "--out", str(t / "train")]),
    (
        "gym",
        "reasoning_gym",
        lambda f, t: [
            *("generate", "--family", "gym", "--task", "leg_counting", "--n", "1"),
            *("--out", str(t / "g.jsonl")),
        ],
    ),
]


@pytest.mark.parametrize(("extra", "module", "argv"), HINTS, ids=[h[0] for h in HINTS])
def test_install_hint_keeps_its_extra(
    extra: str,
    module: str,
    argv: Callable[[Files, Path], list[str]],
    files: Files,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The optional package is made unimportable; the hint must read tracemint[EXTRA]
    (rich markup would have eaten ``[ray]`` as a style tag)."""
    monkeypatch.setitem(sys.modules, module, None)
    res = runner.invoke(app, argv(files, tmp_path))
    line = assert_one_error_line(res.exit_code, res.output)
    assert f"pip install 'tracemint[{extra}]'" in line


# -- version and help -------------------------------------------------------------------------


def test_version_option_and_short_help() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    proc = subprocess.run(
        [sys.executable, "-m", "tracemint.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0 and __version__ in proc.stdout, proc.stderr
    proc = subprocess.run(  # the version command too: every command runs once for real
        [sys.executable, "-m", "tracemint.cli", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == __version__, proc.stderr
    for argv in (["-h"], ["run", "-h"], ["verify", "--help"]):
        res = runner.invoke(app, argv)
        assert res.exit_code == 0 and "Usage" in res.output, (argv, res.output)


def _words(text: str) -> set[str]:
    """Words of a help screen, whatever rich's boxes and line wrapping did to it."""
    return set(re.findall(r"[\w.-]+", _plain(text)))


def test_export_help_lists_every_registered_format() -> None:
    from tracemint.export import exporters

    res = runner.invoke(app, ["export", "--help"])
    assert res.exit_code == 0, res.output
    missing = set(exporters.names()) - _words(res.output)
    assert not missing and len(exporters.names()) >= 4, (missing, res.output)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_serve_test_help_shows_the_server_options(flag: str) -> None:
    res = runner.invoke(app, ["serve-test", flag])
    assert res.exit_code == 0, res.output
    assert {"--answers", "--accuracy", "--port", "--latency"} <= _words(res.output), res.output


# -- the last resort --------------------------------------------------------------------------


def test_unexpected_exception_is_one_line_and_debug_reraises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemint.config

    def boom(path: Any) -> Any:
        raise ValueError("first line\nsecond line " + "y" * 10_000)

    monkeypatch.setattr(tracemint.config, "load_recipe", boom)
    res = runner.invoke(app, ["run", str(tmp_path / "r.toml")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = [x for x in _plain(res.output).splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ValueError: first line second line")
    assert "this is a bug in tracemint; rerun with TRACEMINT_DEBUG=1" in lines[0]
    assert len(lines[0]) < 1000

    monkeypatch.setenv("TRACEMINT_DEBUG", "1")
    res = runner.invoke(app, ["run", str(tmp_path / "r.toml")])
    assert isinstance(res.exception, ValueError)


def test_keyboard_interrupt_is_not_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemint.config

    def interrupted(path: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(tracemint.config, "load_recipe", interrupted)
    res = runner.invoke(app, ["run", str(tmp_path / "r.toml")])
    assert res.exit_code == 130 and "interrupted" in res.output and "bug" not in res.output


# -- formats and progress ---------------------------------------------------------------------


def test_train_reads_parquet_as_it_reads_jsonl(files: Files, tmp_path: Path) -> None:
    """``tracemint export`` writes sft.parquet next to sft.jsonl: train takes either."""
    from tracemint.train.trainer import load_rows

    parquet = tmp_path / "sft.parquet"
    pq.write_table(pa.Table.from_pylist(SFT_ROWS), parquet)
    want = [{"messages": r["messages"]} for r in SFT_ROWS]
    assert load_rows(parquet, "sft") == load_rows(files.sft, "sft") == want


def test_probe_shows_a_progress_bar_on_stderr(tmp_path: Path) -> None:
    from conftest_server import start_test_server

    problems = tmp_path / "p.jsonl"
    problems.write_text(
        _jsonl(
            [
                {"question": f"Ann has {i} pens and gets 2 more.", "answer": str(i + 2)}
                for i in range(4)
            ]
        )
    )
    with start_test_server(answers=problems, accuracy=1.0) as (url, _):
        recipe = tmp_path / "r.toml"
        recipe.write_text(
            f'name = "p"\nruns_dir = {json.dumps(str(tmp_path / "runs"))}\n'
            f'[source]\ntype = "file"\npath = {json.dumps(str(problems))}\n'
            f'[teacher]\ntype = "openai"\nmodel = "m"\nbase_url = "{url}"\n'
            "[budget]\nsamples = 2\n"
        )
        res = runner.invoke(app, ["run", str(recipe), "--no-progress"])
        assert res.exit_code == 0, res.output
        run_dir = str(tmp_path / "runs" / "p")
        res = runner.invoke(app, ["probe", run_dir, "--probes", "filler"])
        assert res.exit_code == 0, res.output
        probed = re.search(r"probed traces\s*│\s*(\d+)", res.output)
        assert probed and int(probed.group(1)) > 0, res.output
        n = probed.group(1)
        assert re.search(rf"probing.*{n}/{n}", _plain(res.output)), res.output
        quiet = runner.invoke(app, ["probe", run_dir, "--probes", "filler", "--no-progress"])
        assert quiet.exit_code == 0 and "probing" not in quiet.output, quiet.output
