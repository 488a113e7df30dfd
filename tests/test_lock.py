"""The venv the tests run in is the lock, exactly: what CI tested is what a fresh clone gets.

Read from outside: the lock file as text, the installed distributions from their metadata.
``make test-latest`` sets TRACEMINT_UNLOCKED=1 (it tests the newest releases on purpose);
only the comparison with the installed versions is skipped there, never the lock's own
consistency with pyproject.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
MODEL_LOCK = ROOT / "requirements" / "embedded-model.txt"
# installed beside the lock on purpose: the project itself, and the installer
NOT_LOCKED = {"tracemint", "pip"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;([^\\]+))?")


def locked(path: Path) -> dict[str, Version]:
    """``name -> version`` of every pin in a pip-compile lock that applies to this machine."""
    pins: dict[str, Version] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line or line[0] in "# ":
            continue
        m = PIN.match(line)
        assert m, f"{path.name}:{n}: not an exact pin: {line!r}"
        if m.group(3) and not Marker(m.group(3).strip()).evaluate():
            continue
        pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def every_pin_has_a_hash(path: Path) -> list[str]:
    """Pins not followed by at least one ``--hash`` (pip refuses the file under
    --require-hashes; this says which one)."""
    text = path.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    return [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]


def project_requirements() -> list[Requirement]:
    """Every requirement of the project and of every extra, from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def test_lock_pins_every_requirement_of_every_extra_within_its_range() -> None:
    """A pyproject edit without `make lock` is caught here, not on a user's machine."""
    pins = locked(LOCK)
    env = {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64"}
    for req in project_requirements():
        if req.marker and not req.marker.evaluate({**env, "extra": ""}):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is in pyproject.toml but not in the lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"the lock has {name}=={pins[name]}, outside pyproject's {req}: run `make lock`"
        )


def test_every_pin_is_hashed() -> None:
    assert every_pin_has_a_hash(LOCK) == []
    assert every_pin_has_a_hash(MODEL_LOCK) == []


def test_torch_is_the_cpu_build() -> None:
    """A CUDA torch is several GB on a machine with no GPU; the lock must hold the CPU one."""
    assert str(locked(LOCK)["torch"]).endswith("+cpu")


@pytest.mark.skipif(
    os.environ.get("TRACEMINT_UNLOCKED") == "1", reason="make test-latest: newest releases"
)
def test_installed_versions_are_the_locked_ones() -> None:
    """Every locked package at its locked version, and nothing installed that is not locked."""
    want = locked(LOCK) | locked(MODEL_LOCK)
    have: dict[str, str] = {}
    # the venv's own site-packages, not sys.path: Ray puts its vendored copies
    # (ray/thirdparty_files: colorama, ...) on sys.path when it is imported
    venv = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for dist in metadata.distributions(path=sorted(venv)):
        name = canonicalize_name(dist.metadata["Name"])
        have[name] = dist.version
    wrong = {
        name: (str(version), have.get(name))
        for name, version in want.items()
        if have.get(name) is None or Version(have[name]) != version
    }
    assert wrong == {}, f"installed differs from the lock (locked, installed): {wrong}"
    extra = sorted(set(have) - set(want) - NOT_LOCKED)
    assert extra == [], f"installed but not locked (run `make install` for a clean venv): {extra}"
    assert sys.version_info[:2] == (3, 11), "the lock is resolved for Python 3.11"
