"""Recipes: TOML files validated by pydantic, with errors that name the key.

A recipe is the whole description of a run. The ``[source]`` and ``[teacher]`` tables are
validated by the config class of the component they name (``type = "openai"`` ->
``OpenAITeacherConfig``), so each component owns its options and unknown keys are errors
everywhere: a typo never silently becomes a default.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tracemint.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentConfig(BaseModel):
    """A ``[source]`` or ``[teacher]`` table: ``type`` plus the component's own options."""

    model_config = ConfigDict(extra="allow")
    type: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StrategyConfig(_Strict):
    name: str = "cot"  # a built-in template name or a path to a .jinja file
    template_dir: str | None = None  # extra directory searched for <name>.jinja
    # "text": the answer is read from the rationale; "program" (PAL): the completion is a
    # program whose solution() runs in the sandbox and returns the answer
    answer_from: Literal["text", "program"] = "text"
    # cross-check: also sample one program with this (program-aided) strategy per problem
    # and record on every trace whether its answer agrees
    cross_check: str | None = None


class VerifyConfig(_Strict):
    steps: bool = True  # check each step's arithmetic claims (expr = value)
    step_mode: Literal["auto", "lines", "numbered", "sentences"] = "auto"


class SamplingConfig(_Strict):
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(512, gt=0)
    stop: list[str] = []
    seed: int = 0  # sample i of a problem is requested with seed + i


class BudgetConfig(_Strict):
    """How many samples to draw per problem.

    With ``k_verified = 0``: exactly ``samples`` per problem (self-consistency when there is
    no reference). With ``k_verified > 0`` (budgeted rejection sampling, STaR/DART-style):
    draw ``round_size`` at a time until ``k_verified`` correct rationales or ``max_samples``.
    """

    samples: int = Field(4, gt=0)
    k_verified: int = Field(0, ge=0)
    max_samples: int = Field(16, gt=0)
    round_size: int = Field(4, gt=0)

    @model_validator(mode="after")
    def _check(self) -> BudgetConfig:
        if self.k_verified and self.k_verified > self.max_samples:
            raise ValueError("k_verified must not exceed max_samples")
        return self


class MonteCarloConfig(_Strict):
    """Step labels from rollouts (Math-Shepherd): continue each step prefix k times and
    grade where the continuations end up. Needs a teacher that can continue an assistant
    message (the embedded one, or a server with prefill: see ``prefill_style``)."""

    enabled: bool = False
    k: int = Field(4, gt=0)  # continuations per step prefix
    method: Literal["hard", "soft", "binary"] = "hard"  # binary: O(log n) prefixes
    max_steps: int | None = Field(None, gt=0)
    apply_to: Literal["all", "correct", "wrong"] = "all"  # which traces get labelled
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, gt=0)  # default: sampling.max_tokens


class ProbesConfig(_Strict):
    """Faithfulness probes run on accepted traces (see probes/). Each probe's settings go
    in a table of its own name: ``[probes.early] points = "steps"``."""

    model_config = ConfigDict(extra="allow")
    names: list[str] = []  # e.g. ["early", "filler", "mistake"]
    sample: float = Field(1.0, gt=0.0, le=1.0)  # share of accepted traces probed (by trace id)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SelectConfig(_Strict):
    """Which traces are accepted for export."""

    # correct: verified against a reference; without one, fall back to the majority answer
    # majority: agree with the self-consistency majority; all: every untruncated trace
    keep: Literal["correct", "majority", "all"] = "correct"
    min_agreement: float = Field(0.0, ge=0.0, le=1.0)  # for majority: drop weak majorities
    # acceptance by majority vote (no reference, or keep = "majority") needs at least this
    # many samples that gave an answer, and a strict majority (agreement > 0.5): one sample
    # "agreeing" with itself is no evidence at all
    min_votes: int = Field(3, ge=1)
    # a right answer reached through a wrong step teaches a wrong habit: drop it
    reject_wrong_steps: bool = True
    # drop a trace whose column is below a threshold, e.g. {early_aoc = 0.2}; traces that
    # were not probed (null) are kept
    min_columns: dict[str, float] = {}
    max_per_problem: int | None = Field(None, gt=0)  # None: keep every accepted trace
    distinct_answers_first: bool = True
    # curriculum: keep only problems whose pass rate (correct / graded samples) lies in
    # [low, high], e.g. [0.1, 0.7] drops what the teacher always or never solves
    pass_rate_band: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check_band(self) -> SelectConfig:
        band = self.pass_rate_band
        if band is not None and not 0.0 <= band[0] <= band[1] <= 1.0:
            raise ValueError("pass_rate_band must be [low, high] with 0 <= low <= high <= 1")
        return self


class ExportConfig(_Strict):
    # sft, dpo (preference pairs), prm (TRL stepwise labels), sft_partial (good prefixes)
    formats: list[Literal["sft", "dpo", "prm", "sft_partial"]] = ["sft", "dpo"]
    file_types: list[Literal["jsonl", "parquet"]] = ["jsonl", "parquet"]
    system_prompt: str | None = None  # prepended to every exported conversation
    max_pairs_per_problem: int = Field(4, gt=0)


class ReportConfig(_Strict):
    """Prices turn token counts into money in the report (per million tokens, any currency)."""

    price_per_million_prompt_tokens: float | None = Field(None, ge=0)
    price_per_million_completion_tokens: float | None = Field(None, ge=0)
    currency: str = "$"


class RunConfig(_Strict):
    max_inflight_problems: int | None = Field(None, gt=0)  # None: 2 x teacher concurrency
    shard_rows: int = Field(2000, gt=0)  # traces per Parquet shard
    flush_seconds: float = Field(10.0, gt=0)  # also flush a shard this often
    # processes that mint (runner/pool.py): >1 spreads the client's CPU work over cores when
    # one process cannot keep a fast server busy; each gets 1/N of the teacher's concurrency.
    # "auto": 2 for a teacher allowed 128+ requests in flight on a machine with 2+ cores where
    # workers start by fork (runner/pool.py: auto_workers), else 1
    workers: int | Literal["auto"] = "auto"

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: Any) -> Any:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError('a number of processes (1, 2, ...) or "auto"')


class CurateConfig(_Strict):
    """Curation (curate/pipeline.py): problems are filtered before any call is made, accepted
    rationales after the run. Every removal is recorded with its reason."""

    # problems: "exact" (normalised text) or "near" (MinHash, dedup_threshold) duplicates
    dedup_problems: Literal["off", "exact", "near"] = "off"
    dedup_threshold: float = Field(0.8, gt=0.0, le=1.0)
    # benchmark files to decontaminate against: "path", "name=path" or "gsm8k:path"
    decontaminate: list[str] = []
    decontaminate_rationales: bool = True  # also check accepted rationales' text
    # accepted rationales
    dedup_rationales: Literal["off", "exact", "near"] = "off"
    max_completion_tokens: int | None = Field(None, gt=0)
    budget: int | None = Field(None, gt=0)  # keep the best N accepted rationales
    balance: Literal["uniform", "prop2diff"] = "uniform"  # how the budget spreads (DART)

    def rationale_steps(self) -> bool:
        return bool(
            (self.decontaminate and self.decontaminate_rationales)
            or self.dedup_rationales != "off"
            or self.max_completion_tokens is not None
            or self.budget is not None
        )


class Recipe(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    runs_dir: str = "runs"
    source: ComponentConfig
    teacher: ComponentConfig
    strategy: StrategyConfig = StrategyConfig()
    verify: VerifyConfig = VerifyConfig()
    montecarlo: MonteCarloConfig = MonteCarloConfig()
    probes: ProbesConfig = ProbesConfig()
    sandbox: dict[str, Any] = {}  # options of the program sandbox (see verify/sandbox.py)
    sampling: SamplingConfig = SamplingConfig()
    budget: BudgetConfig = BudgetConfig()
    select: SelectConfig = SelectConfig()
    curate: CurateConfig = CurateConfig()
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()
    run: RunConfig = RunConfig()

    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut: an error quoting a 5 MB string back would bury the message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def _format_errors(e: ValidationError, where: str, prefix: tuple[Any, ...] = ()) -> str:
    lines = []
    for err in e.errors():
        loc = prefix + tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/recipes.md for the keys)"
        elif "input" in err and err["type"] != "missing":
            msg += f" (got {_short_repr(err['input'])})"
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def parse_recipe(data: dict[str, Any], where: str = "recipe") -> Recipe:
    """Validate a recipe dict, including the component tables, or raise ConfigError."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, where)) from None
    # Validate component options now, not at the first LLM call.
    from tracemint.plugins import source_class, teacher_class

    for table, lookup in (("source", source_class), ("teacher", teacher_class)):
        comp: ComponentConfig = getattr(recipe, table)
        try:
            cls = lookup(comp.type)
        except ConfigError as e:
            raise ConfigError(f"{where}: {table}.type: {e}") from None
        try:
            cls.config_class.model_validate(comp.options())
        except ValidationError as e:
            raise ConfigError(_format_errors(e, where, (table,))) from None
    if recipe.probes.names:
        from tracemint.probes import make_config, probes

        options = recipe.probes.options()
        for name in recipe.probes.names:
            try:
                probes.get(name)
            except ConfigError as e:
                raise ConfigError(f"{where}: probes.names: {e}") from None
        for name, raw in options.items():
            if name not in recipe.probes.names:
                raise ConfigError(f"{where}: probes.{name}: settings for a probe not in names")
            make_config(name, raw)
    if recipe.sandbox:
        from tracemint.verify.sandbox import SandboxConfig

        try:
            SandboxConfig.model_validate(recipe.sandbox)
        except ValidationError as e:
            raise ConfigError(_format_errors(e, where, ("sandbox",))) from None
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file. Relative source paths stay relative to the CWD."""
    p = Path(path)
    # A recipe is a .toml file; a user's likeliest mistake is passing the problems file
    hint = "" if p.suffix.lower() == ".toml" else " (a recipe is a TOML file, e.g. recipe.toml)"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"recipe not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a recipe file{hint}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a text file (invalid UTF-8 at byte {e.start}){hint}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the recipe: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}{hint}") from None
    except RecursionError:  # tomllib recurses per nested [ or {
        raise ConfigError(f"{p}: invalid TOML: arrays or tables nested too deeply") from None
    return parse_recipe(data, str(p))


def component_config(comp: ComponentConfig, cls: Any) -> BaseModel:
    """Build the typed config of a component (already validated by ``parse_recipe``)."""
    config_class: type[BaseModel] = cls.config_class
    return config_class.model_validate(comp.options())
