"""Faithfulness probes: does a trace's final answer depend on its reasoning?

Public API::

    run_probes(traces, teacher, cache, probe_names, configs=None) -> list[Record]
    probes                        # Registry of Probe classes: "early", "filler", "mistake",
                                  # "hint", "paraphrase", "counterfactual"
    Probe, ProbeConfig            # the extension point and its shared settings
    check_prefill(teacher)        # ConfigError unless the teacher can continue a prefix
    await confirm_prefill(teacher, caller)  # ... and, for a server, one live check that it does

Each probe adds columns prefixed with its name (see each module). References: Lanham et al.
2023, *Measuring Faithfulness in Chain-of-Thought Reasoning*; Turpin et al. 2023,
*Language Models Don't Always Say What They Think*.
"""

from __future__ import annotations

from .base import (
    Probe,
    ProbeConfig,
    check_prefill,
    confirm_prefill,
    make_config,
    probes,
    run_probes,
)
from .counterfactual import CounterfactualConfig, CounterfactualProbe
from .early import EarlyAnsweringProbe, EarlyConfig
from .filler import FillerConfig, FillerProbe
from .hint import HintConfig, HintProbe
from .mistake import InsertedMistakeProbe, MistakeConfig
from .paraphrase import ParaphraseConfig, ParaphraseProbe

__all__ = [
    "CounterfactualConfig",
    "CounterfactualProbe",
    "EarlyAnsweringProbe",
    "EarlyConfig",
    "FillerConfig",
    "FillerProbe",
    "HintConfig",
    "HintProbe",
    "InsertedMistakeProbe",
    "MistakeConfig",
    "ParaphraseConfig",
    "ParaphraseProbe",
    "Probe",
    "ProbeConfig",
    "check_prefill",
    "confirm_prefill",
    "make_config",
    "probes",
    "run_probes",
]
