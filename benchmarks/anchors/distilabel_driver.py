"""distilabel anchor: ``LoadDataFromDicts >> TextGeneration(OpenAILLM)``, one generation each.

Concurrency: distilabel sends one ``input_batch_size`` batch at a time through
``asyncio.gather`` in the task's process, so ``input_batch_size = concurrency`` is the
setting that keeps ``concurrency`` requests in flight (the loader's ``batch_size`` matches it
so no batch waits for a partial one). Resume: ``Pipeline(cache_dir=WORK)`` and
``run(use_cache=True)`` is distilabel's own resume (batches written to the cache dir are not
redone); the speed run uses the same, in a fresh directory, so nothing is read back.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parse_args, read_questions, report, work_dir


def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0])
    import distilabel
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    work = work_dir(args.work)
    rows = [{"instruction": q} for q in read_questions(args.prompts)]
    with Pipeline(name="tracemint-bench", cache_dir=str(work / "cache")) as pipeline:
        load = LoadDataFromDicts(data=rows, batch_size=args.concurrency)
        generate = TextGeneration(
            llm=OpenAILLM(
                model=args.model,
                base_url=args.base_url,
                api_key="sk-bench",  # the test server ignores it; the client requires one
                max_retries=8,
                timeout=120,
                generation_kwargs={
                    "max_new_tokens": args.max_tokens,
                    "temperature": args.temperature,
                    "top_p": 1.0,
                },
            ),
            input_batch_size=args.concurrency,
        )
        load >> generate
    distiset = pipeline.run(use_cache=True)
    data = distiset["default"]["train"]
    records = sum(1 for g in data["generation"] if g)
    report(records, distilabel.__version__)


if __name__ == "__main__":
    main()
