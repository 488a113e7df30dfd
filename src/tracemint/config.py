"""Recipes: TOML files validated by pydantic, with errors that name the key.

A recipe is the whole description of a run. The ``[source]`` and ``[teacher]`` tables are
validated by the config class of the component they name (``type = "openai"`` ->
``OpenAITeacherConfig``), so each component owns its options and unknown keys are errors
everywhere: a typo never silently becomes a default.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
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

from tracemint import plugins
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
    # which registered verifier judges final answers: "auto" = "family" for a generated
    # problem, "answer" otherwise; any other name (a plugin's) judges every trace
    answers: str = "auto"
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

    ``rationalize`` (STaR's rationalization): a problem with no verified rationale when the
    plain rounds are spent gets one last round with the ``rationalize`` template, which shows
    the teacher the reference answer. Its draws come out of the same ``max_samples``: the
    plain rounds stop ``rationalize_draws()`` short of it, so a recipe spends at most
    ``max_samples`` calls per problem with or without it (equal call budget).
    """

    samples: int = Field(4, gt=0)
    k_verified: int = Field(0, ge=0)
    max_samples: int = Field(16, gt=0)
    round_size: int = Field(4, gt=0)
    rationalize: bool = False

    @model_validator(mode="after")
    def _check(self) -> BudgetConfig:
        if self.k_verified and self.k_verified > self.max_samples:
            raise ValueError("k_verified must not exceed max_samples")
        if self.rationalize and not self.k_verified:
            raise ValueError(
                "rationalize is a round of budgeted rejection sampling: set k_verified > 0"
            )
        if self.rationalize and self.rationalize_draws() == 0:
            raise ValueError("rationalize needs max_samples >= 2 (half of it at most is hinted)")
        return self

    def rationalize_draws(self) -> int:
        """Draws reserved for the rationalize round: one round, at most half the budget
        (so plain sampling always gets the larger share); 0 when rationalize is off."""
        return min(self.round_size, self.max_samples // 2) if self.rationalize else 0


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
    # the same by Monte-Carlo step labels (``[montecarlo]``): drop a trace one of whose step
    # prefixes no rollout continues to the reference answer (``mc_first_error`` set). Such
    # labels see a wrong step only where it changes where the chain ends up
    reject_mc_errors: bool = False
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
    # sft (prompt/completion: TRL trains on the completion), sft_messages (one messages column),
    # sft_multitask (answer and rationale as two prefixed tasks), dpo (preference pairs),
    # prm (TRL stepwise labels), sft_partial (good prefixes)
    formats: list[str] = ["sft", "dpo"]  # registered exporters (checked in parse_recipe)
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


# The program sandbox's limits (verify/sandbox.py runs programs under them): a recipe's
# [sandbox] table, so its model lives with the other recipe tables.
DEFAULT_ALLOWED_MODULES = (
    "math", "fractions", "decimal", "itertools", "functools", "collections", "datetime",
    "statistics", "re", "string", "sympy", "numbers", "operator", "heapq", "bisect", "random",
)  # fmt: skip


class SandboxConfig(BaseModel):
    """Limits for one program; every execution gets all of them afresh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_s: float = Field(2.0, gt=0)  # RLIMIT_CPU, rounded up to whole seconds
    wall_s: float = Field(5.0, gt=0)  # the zygote kills the program after this
    memory_mb: int = Field(512, gt=0)  # RLIMIT_AS headroom above the preloaded interpreter
    max_output_bytes: int = Field(65536, gt=0)  # stdout, stderr, and str(return value), each
    allowed_modules: tuple[str, ...] = (
        DEFAULT_ALLOWED_MODULES  # top-level names user code may import
    )
    pool_size: int = Field(2, ge=1, le=64)  # concurrent programs and pre-forked workers
    entrypoint: str = "solution"  # called with no arguments; its return value is the answer
    max_processes: int = Field(8, ge=1, le=256)  # RLIMIT_NPROC (threads count too)
    max_file_bytes: int = Field(1 << 20, ge=0)  # RLIMIT_FSIZE: largest file a program writes
    max_open_files: int = Field(32, ge=8, le=1024)  # RLIMIT_NOFILE
    # Size of the fresh tmpfs each program gets over /tmp, /var/tmp, /dev/shm and /run/lock
    # (each; the working directory lives in the /tmp one). Per program so that no program
    # reads another's files or fills the disk for the next; see protections["tmp_per_program"].
    tmp_mb: int = Field(16, ge=1, le=4096)
    seed: int = 0  # random.seed() before each program, so runs are reproducible
    prefork: bool = True  # False: fork on demand (only useful to measure what pre-forking buys)
    # False: no seccomp filter (only to measure what it costs, and for the test that shows it
    # is the filter that refuses); see protections["seccomp"] and verify/_sandbox_filter.py
    syscall_filter: bool = True
    require_isolation: bool = False  # True: refuse to start without setuid and a netns

    @field_validator("entrypoint")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"entrypoint must be a Python identifier, got {value!r}")
        return value

    @field_validator("allowed_modules")
    @classmethod
    def _module_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not name.isidentifier()]
        if bad:
            raise ValueError(f"allowed_modules must be top-level module names, got {bad}")
        return value


class Recipe(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    runs_dir: str = "runs"
    # modules imported before anything is looked up: a plugin of one's own (a teacher,
    # source, family, verifier, probe or exporter) registers itself there
    plugins: list[str] = []
    source: ComponentConfig
    teacher: ComponentConfig
    strategy: StrategyConfig = StrategyConfig()
    verify: VerifyConfig = VerifyConfig()
    montecarlo: MonteCarloConfig = MonteCarloConfig()
    probes: ProbesConfig = ProbesConfig()
    sandbox: dict[str, Any] = {}  # options of the program sandbox (SandboxConfig above)
    sampling: SamplingConfig = SamplingConfig()
    budget: BudgetConfig = BudgetConfig()
    select: SelectConfig = SelectConfig()
    curate: CurateConfig = CurateConfig()
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()
    run: RunConfig = RunConfig()

    @model_validator(mode="after")
    def _check_labels(self) -> Recipe:
        if self.select.reject_mc_errors and not self.montecarlo.enabled:
            raise ValueError(
                "select.reject_mc_errors needs Monte-Carlo step labels: set "
                "[montecarlo] enabled = true"
            )
        if self.select.reject_mc_errors and self.montecarlo.apply_to == "wrong":
            raise ValueError(
                'select.reject_mc_errors: montecarlo.apply_to = "wrong" labels no trace '
                'selection could accept; use "correct" or "all"'
            )
        return self

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
    plugins.load_plugins(recipe.plugins)
    for table, registry in (("source", plugins.sources), ("teacher", plugins.teachers)):
        comp: ComponentConfig = getattr(recipe, table)
        try:
            cls = registry.get(comp.type)
        except ConfigError as e:
            raise ConfigError(f"{where}: {table}.type: {e}") from None
        try:
            cls.config_class.model_validate(comp.options())
        except ValidationError as e:
            raise ConfigError(_format_errors(e, where, (table,))) from None
    if recipe.verify.answers != "auto":
        try:
            plugins.verifiers.get(recipe.verify.answers)
        except ConfigError as e:
            raise ConfigError(f"{where}: verify.answers: {e}") from None
    for fmt in recipe.export.formats:
        try:
            plugins.exporters.get(fmt)
        except ConfigError as e:
            raise ConfigError(f"{where}: export.formats: {e}") from None
    options = recipe.probes.options()
    for name in recipe.probes.names:
        try:
            plugins.probes.get(name)
        except ConfigError as e:
            raise ConfigError(f"{where}: probes.names: {e}") from None
    for name, raw in options.items():
        # Settings with no names are for `tracemint probe` later; with names, they must match.
        if recipe.probes.names and name not in recipe.probes.names:
            raise ConfigError(f"{where}: probes.{name}: settings for a probe not in names")
        try:
            plugins.probes.get(name).config_class.model_validate(raw or {})
        except ValidationError as e:
            raise ConfigError(_format_errors(e, where, ("probes", name))) from None
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


def validate_config(model: type[BaseModel], options: Mapping[str, Any], *, what: str) -> Any:
    """Build ``model`` from ``options``; a bad or unknown key raises ``ConfigError`` naming it."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(options)'}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(f"{what} options: {problems}") from None


def component_config(comp: ComponentConfig, cls: Any) -> BaseModel:
    """Build the typed config of a component (already validated by ``parse_recipe``)."""
    config_class: type[BaseModel] = cls.config_class
    return config_class.model_validate(comp.options())
