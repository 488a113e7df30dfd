"""Monte-Carlo step labels: exactness with a perfect completer, call budgets, determinism."""

from __future__ import annotations

import asyncio
import math

import pytest

from tracemint.verify.montecarlo import (
    Completer,
    StepLabels,
    call_seed,
    label_steps,
    simulated_completer,
)

METHODS = ("hard", "soft", "binary")


def _label(n: int, complete: Completer, **kw: object) -> StepLabels:
    return asyncio.run(label_steps(n, complete, **kw))  # type: ignore[arg-type]


def _recording(complete: Completer, log: list[tuple[int, int, int]]) -> Completer:
    async def wrapped(i: int, j: int, seed: int) -> bool:
        log.append((i, j, seed))
        return await complete(i, j, seed)

    return wrapped


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_perfect_completer_finds_first_error_exactly(method: str, n: int) -> None:
    for e in [*range(n), None]:
        got = _label(n, simulated_completer(e, p_ok=1.0, p_recover=0.0), method=method, k=3)
        assert got.first_error == e
        truth = [e is None or i < e for i in range(n)]
        assert list(got.hard) == truth


@pytest.mark.parametrize("method", METHODS)
def test_no_error_all_steps_good(method: str) -> None:
    got = _label(7, simulated_completer(None), method=method, k=2)
    assert got.hard == (True,) * 7
    assert got.first_error is None
    assert all(e in (None, 1.0) for e in got.estimates)


@pytest.mark.parametrize("e", [0, 3, 6, None])
def test_hard_early_stop_call_count(e: int | None) -> None:
    log: list[tuple[int, int, int]] = []
    got = _label(7, _recording(simulated_completer(e), log), method="hard", k=4)
    evaluated = 7 if e is None else e + 1
    assert got.calls == len(log) == 4 * evaluated
    assert sorted(log) == sorted(
        (i, j, call_seed(0, i, j)) for i in range(evaluated) for j in range(4)
    )
    assert got.estimates[evaluated:] == (None,) * (7 - evaluated)


def test_hard_without_early_stop_and_soft_evaluate_every_step() -> None:
    for kw in ({"method": "hard", "early_stop": False}, {"method": "soft"}):
        got = _label(6, simulated_completer(2), k=3, **kw)
        assert got.calls == 18
        assert got.estimates == (1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
        assert got.first_error == 2


@pytest.mark.parametrize(
    ("n", "e", "prefixes"),
    [(8, 3, [4, 2, 3]), (8, None, [4, 6, 7]), (8, 0, [4, 2, 1, 0]), (1, 0, [0]), (0, None, [])],
)
def test_binary_search_prefix_order(n: int, e: int | None, prefixes: list[int]) -> None:
    log: list[tuple[int, int, int]] = []
    got = _label(n, _recording(simulated_completer(e), log), method="binary", k=2)
    assert [i for i, j, _ in log if j == 0] == prefixes
    assert got.calls == len(log) == 2 * len(prefixes)
    assert got.first_error == e


@pytest.mark.parametrize("n", range(1, 40))
def test_binary_search_is_logarithmic(n: int) -> None:
    bound = math.ceil(math.log2(n + 1))
    for e in [*range(n), None]:
        got = _label(n, simulated_completer(e), method="binary", k=3)
        assert got.first_error == e
        assert got.calls <= 3 * bound
        assert sum(x is not None for x in got.estimates) == got.calls // 3


def test_deterministic_given_seed_and_sensitive_to_it() -> None:
    complete = simulated_completer(5, p_ok=0.7, p_recover=0.3)
    for method in METHODS:
        runs = [_label(12, complete, method=method, k=4, seed=s) for s in (7, 7, 8)]
        assert runs[0] == runs[1]
    soft = [_label(12, complete, method="soft", k=4, seed=s).estimates for s in range(5)]
    assert len(set(soft)) > 1


def test_call_seeds_are_distinct_and_order_independent() -> None:
    seeds = {call_seed(s, i, j) for s in range(20) for i in range(12) for j in range(8)}
    assert len(seeds) == 20 * 12 * 8
    assert all(0 <= x < 2**31 for x in seeds)


def test_methods_share_samples_on_a_common_prefix() -> None:
    complete = simulated_completer(4, p_ok=0.6, p_recover=0.2)
    soft = _label(9, complete, method="soft", k=8, seed=3)
    binary = _label(9, complete, method="binary", k=8, seed=3)
    for s, b in zip(soft.estimates, binary.estimates, strict=True):
        assert b is None or b == s


@pytest.mark.parametrize("method", METHODS)
def test_max_steps_respected(method: str) -> None:
    log: list[tuple[int, int, int]] = []
    got = _label(10, _recording(simulated_completer(None), log), method=method, k=2, max_steps=4)
    assert log and max(i for i, _, _ in log) < 4
    assert got.estimates[4:] == (None,) * 6
    assert got.hard[:4] == (True,) * 4
    assert got.hard[4:] == (None,) * 6
    assert got.first_error is None


def test_max_steps_error_inside_limit_and_zero_limit() -> None:
    got = _label(10, simulated_completer(2), method="binary", k=1, max_steps=4)
    assert got.first_error == 2
    assert got.hard == (True, True) + (False,) * 8
    none = _label(10, simulated_completer(2), method="hard", k=1, max_steps=0)
    assert none.calls == 0 and none.hard == (None,) * 10


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"k": 0}, "k"),
        ({"k": -1}, "k"),
        ({"k": 2.0}, "k"),
        ({"k": True}, "k"),
        ({"max_steps": -1}, "max_steps"),
        ({"method": "ternary"}, "method"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_bad_parameters_raise_naming_them(kw: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        _label(4, simulated_completer(None), **kw)


def test_bad_step_count_and_probabilities() -> None:
    with pytest.raises(ValueError, match=r"^n_steps "):
        _label(-1, simulated_completer(None))
    with pytest.raises(ValueError, match=r"^p_recover "):
        simulated_completer(1, p_recover=1.5)


def test_recovery_breaks_hard_labels_but_soft_estimates_track_it() -> None:
    # With p_recover=1 the error is invisible to rollouts: no method can find it.
    complete = simulated_completer(2, p_ok=1.0, p_recover=1.0)
    for method in METHODS:
        assert _label(5, complete, method=method, k=4).first_error is None
    # With p_recover=0.25 and k=64, soft estimates after the error sit near 0.25.
    soft = _label(5, simulated_completer(2, p_recover=0.25), method="soft", k=64)
    assert soft.estimates[:2] == (1.0, 1.0)
    assert all(0.1 < x < 0.45 for x in soft.estimates[2:] if x is not None)
