"""The reasoning-gym adapter: optional, reproducible, and stricter than reasoning-gym's scorers."""

from __future__ import annotations

import builtins
import importlib.util
import random
from typing import Any

import pytest

from tracemint.errors import ConfigError
from tracemint.synth.base import Item, create_family, generate

HAVE_GYM = importlib.util.find_spec("reasoning_gym") is not None
needs_gym = pytest.mark.skipif(not HAVE_GYM, reason="reasoning-gym not installed (tracemint[gym])")


def gym(task: str, **options: Any) -> Any:
    return create_family("gym", {"task": task, "options": options})


def test_missing_reasoning_gym_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracemint.synth import gym as adapter

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "reasoning_gym":
            raise ImportError("no reasoning_gym")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    adapter._dataset.cache_clear()
    with pytest.raises(ConfigError, match=r"pip install 'tracemint\[gym\]'"):
        create_family("gym", {"task": "leg_counting"})
    adapter._dataset.cache_clear()


@needs_gym
@pytest.mark.parametrize("task", ["basic_arithmetic", "leg_counting"])
def test_items_reproducible_and_gold_accepted(task: str) -> None:
    fam = gym(task)
    got = list(generate(fam, 5, seed=1))
    assert got == list(generate(gym(task), 5, seed=1))
    for it in got:
        assert fam.check(it.answer, it)
        assert it.rationale.splitlines()[-1] == f"The answer is {it.answer}."
        rebuilt = Item(it.question, it.answer, it.rationale, dict(it.data))
        assert gym(task).check(it.answer, rebuilt)
        for hack in ["", f"{it.answer} or 3", f"{it.answer}, 3", f"{it.answer} junk", it.question]:
            assert not fam.check(hack, it), hack
        assert not fam.check(str(int(it.answer) + 1), it)


@needs_gym
def test_junk_after_answer_scores_zero_where_reasoning_gym_gives_credit() -> None:
    import reasoning_gym

    fam = gym("gsm_symbolic")
    it = fam.make(random.Random(7))
    ds = reasoning_gym.create_dataset("gsm_symbolic", seed=it.data["seed"], size=1)
    entry = ds[0]
    junk = f"{it.answer} junk"
    assert ds.score_answer(junk, entry) == 1.0  # reasoning-gym: full credit
    assert not fam.check(junk, it)  # ours: zero
    assert not fam.check(f"junk {it.answer}", it)
    partial = create_family("gym", {"task": "basic_arithmetic"})
    item = partial.make(random.Random(7))
    ds = reasoning_gym.create_dataset("basic_arithmetic", seed=item.data["seed"], size=1)
    assert 0 < ds.score_answer(f"{item.answer} junk", ds[0]) < 1  # partial credit there
    assert not partial.check(f"{item.answer} junk", item)


@needs_gym
def test_bad_task_or_option_is_config_error() -> None:
    with pytest.raises(ConfigError):
        gym("no_such_task")
    with pytest.raises(ConfigError):
        create_family("gym", {"options": {}})
