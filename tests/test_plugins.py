"""One new file per plugin: a module of one's own adds a teacher, a source, a family, a
verifier, a probe and an exporter, and a recipe that names them runs end to end.

The module is written to a temporary directory (it is nobody's package), named in the
recipe's ``plugins``, and everything it registers is used through the same registries the
built-ins use. Then a contract over every registry: each registered name, built-in or
plugin, resolves to a subclass of its kind's base class that carries that name.
"""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tracemint import plugins
from tracemint.config import load_recipe
from tracemint.errors import ConfigError
from tracemint.export import export_run
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore

PLUGIN = """
from __future__ import annotations

import re

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from tracemint.export.base import Exporter, exporters
from tracemint.probes.base import Probe, probes
from tracemint.sources.base import Source, SourceConfig, sources
from tracemint.synth.base import Family, Item, clean_answer, families
from tracemint.teachers.base import Completion, Teacher, teachers
from tracemint.verify.base import Verifier, verifiers


class AdderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offset: int = 0  # a nonzero offset makes every answer wrong


@teachers.register("{p}adder")
class AdderTeacher(Teacher):
    config_class = AdderConfig

    def __init__(self, config: AdderConfig) -> None:
        self.config = config

    @property
    def model(self) -> str:
        return "adder-1"

    async def generate(self, requests):
        out = []
        for r in requests:
            a, b = map(int, re.findall(r"\\d+", r.messages[-1]["content"])[:2])
            total = a + b + self.config.offset
            text = f"{{a}} + {{b}} = {{total}}\\nThe answer is {{total}}."
            out.append(Completion(text=text, finish_reason="stop", prompt_tokens=1,
                                  completion_tokens=6, model=self.model))
        return out


class PairsConfig(SourceConfig):
    n: int = 3


@sources.register("{p}pairs")
class PairsSource(Source):
    config_class = PairsConfig

    def __iter__(self):
        for i in range(self.config.n):
            yield {{"problem_id": f"d{{i}}", "question": f"What is {{i}} + {{i + 2}}?",
                   "reference": str(2 * i + 2), "choices": None, "source": "pairs",
                   "source_index": i, "metadata": None}}


@families.register("{p}sum")
class SumFamily(Family):
    def make(self, rng):
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        return Item(question=f"What is {{a}} + {{b}}?", answer=str(a + b),
                    rationale=f"{{a}} + {{b}} = {{a + b}}\\nThe answer is {{a + b}}.",
                    data={{"a": a, "b": b}})

    def check(self, answer, item):
        a = clean_answer(answer, item)
        return a is not None and a == str(item.data["a"] + item.data["b"])


@verifiers.register("{p}last_number")
class LastNumberVerifier(Verifier):
    columns = ("answer", "reference_answer", "verdict", "verdict_reason", "verifier_version")

    def verify(self, records):
        out = []
        for r in records:
            found = re.findall(r"-?\\d+", r.get("completion") or "")
            answer = found[-1] if found else None
            ok = answer is not None and answer == r.get("reference")
            out.append({{**r, "answer": answer, "reference_answer": r.get("reference"),
                        "verdict": "correct" if ok else "wrong",
                        "verdict_reason": "{p}last_number", "verifier_version": "1"}})
        return out


@probes.register("{p}length")
class LengthProbe(Probe):
    columns = {{"words": pa.int64()}}
    needs_prefill = False

    async def run(self, trace, caller, cfg):
        return {{"{p}length_words": len((trace["completion"] or "").split())}}


@exporters.register("{p}qa")
class QAExporter(Exporter):
    def rows(self, traces):
        for t in traces:
            if t.get("accepted"):
                yield {{"question": t["question"], "answer": t["answer"],
                       "problem_id": t["problem_id"]}}
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A plugin module in a temporary directory; returns (module name, name prefix)."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"  # registries are per process: fresh names per test
    module = f"my_plugins_{prefix.rstrip('_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN).format(p=prefix))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module, prefix
    sys.modules.pop(module, None)
    for kind in KINDS:  # later tests (registry contracts elsewhere) see no leftover dummy
        registry = getattr(plugins, kind)
        for name in [n for n in registry._items if n.startswith(prefix)]:
            del registry._items[name]


def recipe(tmp_path: Path, module: str, body: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "recipe.toml"
    runs = json.dumps(str(tmp_path / "runs"))
    path.write_text(f'name = "plug"\nruns_dir = {runs}\nplugins = ["{module}"]\n' + body)
    return path


def test_one_file_adds_each_kind_and_a_recipe_runs_them(
    tmp_path: Path, plugin: tuple[str, str]
) -> None:
    module, p = plugin
    path = recipe(
        tmp_path,
        module,
        f'[source]\ntype = "{p}pairs"\nn = 3\n[teacher]\ntype = "{p}adder"\n'
        f'[budget]\nsamples = 2\n[verify]\nanswers = "{p}last_number"\n'
        f'[probes]\nnames = ["{p}length"]\n[export]\nformats = ["{p}qa", "sft"]\n',
    )
    r = load_recipe(path)
    LocalRunner(r, progress=False).run()
    traces = RunStore(r.run_dir()).read_traces().to_pylist()
    assert len(traces) == 6
    assert {t["verdict_reason"] for t in traces} == {f"{p}last_number"}  # our verifier judged
    assert all(t["verdict"] == "correct" for t in traces)  # and our teacher adds right
    probed = [t for t in traces if t[f"{p}length_words"] is not None]
    assert probed, "our probe ran during the run"  # (on the traces the run probes)
    assert all(t[f"{p}length_words"] == len(t["completion"].split()) for t in probed)
    out = export_run(r.run_dir(), r.export.formats, tmp_path / "out")
    rows = [json.loads(x) for x in (tmp_path / "out" / f"{p}qa.jsonl").read_text().splitlines()]
    accepted = sorted(t["problem_id"] for t in traces if t["accepted"])
    assert sorted(x["problem_id"] for x in rows) == accepted  # accepted work only, all of it
    assert out[f"{p}qa"]["rows"] == len(rows) > 0 and out["sft"]["rows"] > 0
    assert pq.read_table(tmp_path / "out" / f"{p}qa.parquet").num_rows == len(rows)


def test_a_plugin_family_feeds_the_generate_source_and_judges_its_items(
    tmp_path: Path, plugin: tuple[str, str]
) -> None:
    module, p = plugin
    body = (
        f'[source]\ntype = "generate"\nfamily = "{p}sum"\nn = 4\n'
        f'[teacher]\ntype = "{p}adder"\noffset = {{offset}}\n[budget]\nsamples = 1\n'
    )
    verdicts = {}
    for offset in (0, 1):
        path = recipe(tmp_path / str(offset), module, body.format(offset=offset))
        r = load_recipe(path)
        LocalRunner(r, progress=False).run()
        verdicts[offset] = [t["verdict"] for t in RunStore(r.run_dir()).read_traces().to_pylist()]
    assert verdicts == {0: ["correct"] * 4, 1: ["wrong"] * 4}  # the family's check decides


def test_a_recipe_naming_a_missing_plugin_or_name_fails_before_any_call(
    tmp_path: Path, plugin: tuple[str, str]
) -> None:
    module, p = plugin
    with pytest.raises(ConfigError, match="plugins: cannot import 'no_such_module'"):
        load_recipe(recipe(tmp_path, "no_such_module", '[source]\ntype = "file"\npath = "x"\n'
                           '[teacher]\ntype = "openai"\nmodel = "m"\n'))  # fmt: skip
    bad = f'[source]\ntype = "{p}pairs"\n[teacher]\ntype = "{p}adder"\n'
    for table, key in (("export", "formats = ['nope']"), ("verify", "answers = 'nope'"),
                       ("probes", "names = ['nope']")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"{table}.*unknown .* 'nope'"):
            load_recipe(recipe(tmp_path, module, bad + f"[{table}]\n{key}\n"))


KINDS = {
    "teachers": "tracemint.teachers.base:Teacher",
    "sources": "tracemint.sources.base:Source",
    "families": "tracemint.synth.base:Family",
    "verifiers": "tracemint.verify.base:Verifier",
    "probes": "tracemint.probes.base:Probe",
    "exporters": "tracemint.export.base:Exporter",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_registered_name_is_a_subclass_carrying_that_name(kind: str) -> None:
    import importlib

    module, base_name = KINDS[kind].split(":")
    base = getattr(importlib.import_module(module), base_name)
    registry = getattr(plugins, kind)
    names = registry.names()  # the built-ins load here, by module path
    assert names, kind
    for name in names:
        cls = registry.get(name)
        assert issubclass(cls, base), (kind, name)
        assert cls.name == name, (kind, name, cls.name)
        config = getattr(cls, "config_class", None)
        if config is not None:  # unknown recipe keys must be errors, never ignored
            assert config.model_config.get("extra") == "forbid", (kind, name)
