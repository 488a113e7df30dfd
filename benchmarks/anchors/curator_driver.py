"""Bespoke Curator anchor: a ``curator.LLM`` with the ``openai`` backend, one response each.

Concurrency: ``backend_params.max_concurrent_requests``; the request and token rate limits
are set far above what the server can answer so only concurrency limits it (with no limit
given, Curator would read them from response headers the test server does not send and fall
back to its conservative defaults). ``invalid_finish_reasons`` keeps only ``content_filter``
so a reply cut at ``max_tokens`` counts as a response, as it does for the other systems.
Resume: Curator's cache keyed by dataset + prompt function + model under ``working_dir``;
the speed run uses the same, in a fresh directory, so nothing is read back.

Offline: tiktoken would download ``cl100k_base``; litellm (a Curator dependency) bundles that
file, so ``TIKTOKEN_CACHE_DIR`` points there, and telemetry is off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parse_args, read_questions, report, work_dir


def _offline_env() -> None:
    import importlib.util

    os.environ.setdefault("TELEMETRY_ENABLED", "false")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("CURATOR_DISABLE_RICH_DISPLAY", "1")
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
        if bundled.is_dir():
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))


def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0])
    _offline_env()
    from importlib.metadata import version

    from bespokelabs import curator

    class Answer(curator.LLM):
        def prompt(self, input: dict[str, Any]) -> str:
            return str(input["question"])

        def parse(self, input: dict[str, Any], response: Any) -> dict[str, Any]:
            return {"question": input["question"], "response": response}

    llm = Answer(
        model_name=args.model,
        backend="openai",
        generation_params={
            "max_tokens": args.max_tokens,
            "temperature": args.temperature,
            "top_p": 1.0,
        },
        backend_params={
            "base_url": args.base_url,
            "api_key": "sk-bench",
            "max_concurrent_requests": args.concurrency,
            "max_requests_per_minute": 100_000_000,
            "max_tokens_per_minute": 100_000_000_000,
            "max_retries": 8,
            "invalid_finish_reasons": ["content_filter"],
        },
    )
    rows = [{"question": q} for q in read_questions(args.prompts)]
    out = llm(rows, working_dir=str(work_dir(args.work) / "curator"))
    data = getattr(out, "dataset", out)  # CuratorResponse in 0.1.2x+; a Dataset before
    records = sum(1 for r in data["response"] if r)
    report(records, version("bespokelabs-curator"))


if __name__ == "__main__":
    main()
