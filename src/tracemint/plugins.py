"""Every extension point's registry, in one place: how a recipe's names find their code.

A kind of plugin (teacher, source, family, verifier, probe, exporter) is one ``Registry``
here; its built-ins are listed by module path and imported on first use (the registry is a
leaf: nothing here imports an implementation). Adding an implementation is one new file:
subclass the kind's base class (``teachers.base.Teacher``, ``sources.base.Source``,
``synth.base.Family``, ``verify.base.Verifier``, ``probes.base.Probe``,
``export.base.Exporter``) and decorate it with ``@<registry>.register("name")``; a recipe
loads a module of one's own with ``plugins = ["my_package.my_module"]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from tracemint.errors import ConfigError
from tracemint.registry import Registry

teachers: Registry[Any] = Registry(
    "teacher",
    {
        "openai": "tracemint.teachers.openai",
        "embedded": "tracemint.teachers.embedded",
        "local": "tracemint.teachers.local",
        "noisy_gold": "tracemint.teachers.noisy_gold",
    },
)
sources: Registry[Any] = Registry(
    "source",
    {
        "file": "tracemint.sources.files",
        "generate": "tracemint.sources.generated",
        "written": "tracemint.sources.written",
    },
)
families: Registry[Any] = Registry(
    "family",
    {
        name: f"tracemint.synth.families.{module}"
        for name, module in {
            "modular": "modular",
            "rule_chaining": "rule_chaining",
            "ordering": "ordering",
            "knights_knaves": "knights_knaves",
            "gym": "gym",
            "word_problems": "word_problems",
            "linear_equations": "linear",
            "dates": "dates",
            "boolean": "boolean",
            "sorting": "sorting",
            "counting": "counting",
        }.items()
    },
)
verifiers: Registry[Any] = Registry(
    "verifier",
    {
        "answer": "tracemint.verify.answer_verifier",
        "family": "tracemint.verify.family_verifier",
        "steps": "tracemint.verify.step_verifier",
    },
)
probes: Registry[Any] = Registry(
    "probe",
    {
        name: f"tracemint.probes.{name}"
        for name in ("early", "filler", "mistake", "hint", "paraphrase", "counterfactual")
    },
)
exporters: Registry[Any] = Registry(
    "exporter",
    {
        "sft": "tracemint.export.sft",
        "sft_messages": "tracemint.export.sft",
        "sft_multitask": "tracemint.export.sft",
        "dpo": "tracemint.export.preference",
        "prm": "tracemint.export.process",
        "sft_partial": "tracemint.export.process",
    },
)


def load_plugins(modules: Iterable[str]) -> None:
    """Import a recipe's own plugin modules, so what they register can be named."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(f"plugins: cannot import {module!r}: {e}") from None
