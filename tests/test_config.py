from __future__ import annotations

from pathlib import Path

import pytest

import scripted  # noqa: F401 - registers the scripted teacher
from tracemint.config import load_recipe, parse_recipe
from tracemint.errors import ConfigError

BASE = {
    "name": "t",
    "source": {"type": "file", "path": "x.jsonl"},
    "teacher": {"type": "scripted"},
}


def test_minimal_recipe_gets_defaults() -> None:
    r = parse_recipe(BASE)
    assert r.budget.samples == 4
    assert r.strategy.name == "cot"
    assert r.run_dir() == Path("runs/t")
    assert r.run.workers == "auto"


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"sampling": {"temperature": "hot"}}, "sampling.temperature"),
        ({"sampling": {"temprature": 0.5}}, "sampling.temprature: unknown key"),
        ({"budget": {"k_verified": 9, "max_samples": 4}}, "k_verified must not exceed"),
        ({"teacher": {"type": "nope"}}, "teacher.type"),
        ({"teacher": {"type": "scripted", "modle": "x"}}, "teacher.modle: unknown key"),
        ({"source": {"type": "file"}}, "source.path: Field required"),
        ({"name": "has space"}, "name"),
        ({"select": {"keep": "best"}}, "select.keep"),
        ({"run": {"workers": 0}}, "run.workers"),
        ({"run": {"workers": "many"}}, "run.workers"),
    ],
)
def test_invalid_recipe_names_the_key(patch: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_recipe({**BASE, **patch}, "r.toml")
    assert needle in str(e.value)
    assert str(e.value).startswith("r.toml: ")


def test_unknown_teacher_lists_known_names() -> None:
    with pytest.raises(ConfigError, match=r"known: .*openai"):
        parse_recipe({**BASE, "teacher": {"type": "nope"}})


def test_load_recipe_reports_bad_toml(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_recipe(p)
    with pytest.raises(ConfigError, match="recipe not found"):
        load_recipe(tmp_path / "missing.toml")


def test_shipped_recipes_are_valid() -> None:
    root = Path(__file__).parent.parent / "recipes"
    for path in root.glob("*.toml"):
        load_recipe(path)


def test_probe_settings_are_validated_up_front() -> None:
    with pytest.raises(ConfigError, match=r"probes\.names: unknown probe 'nope'"):
        parse_recipe({**BASE, "probes": {"names": ["nope"]}})
    with pytest.raises(ConfigError, match=r"probes\.filler: settings for a probe not in names"):
        parse_recipe({**BASE, "probes": {"names": ["early"], "filler": {}}})
    with pytest.raises(ConfigError, match="nope"):
        parse_recipe({**BASE, "probes": {"names": ["early"], "early": {"nope": 1}}})
    r = parse_recipe({**BASE, "probes": {"names": ["early"], "early": {"points": "steps"}}})
    assert r.probes.options() == {"early": {"points": "steps"}}


def test_teacher_tuning_keys_stay_out_of_the_fingerprint() -> None:
    """Retuning how fast a server is asked (concurrency, pacing, retries, more replicas)
    must not make ``--resume`` redo a run, nor must moving the server; changing what is
    asked (model, extra_body) must."""
    from tracemint.runner.manifest import recipe_fingerprint

    def fp(**teacher: object) -> str:
        return recipe_fingerprint(
            parse_recipe({**BASE, "teacher": {"type": "openai", "model": "m", **teacher}})
        )

    base = fp(base_url="http://a/v1")
    assert base == fp(base_url="http://a/v1", concurrency=256, max_retries=2, timeout_s=5)
    assert base == fp(base_url=["http://a/v1", "http://b/v1"], requests_per_minute=600)
    assert base == fp(base_url="http://b/v1")  # moving the server keeps the run
    assert base != fp(base_url="http://a/v1", extra_body={"top_k": 20})
    assert base != recipe_fingerprint(
        parse_recipe({**BASE, "teacher": {"type": "openai", "model": "m2"}})
    )
