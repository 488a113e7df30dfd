"""``tracemint push``: upload a run, as a dataset, to the Hugging Face Hub.

What goes up is the dataset and what explains it: the card (``README.md``, rewritten first
so it matches the files), the trace shards, the exports, ``manifest.json`` (recipe,
versions, counts: never secrets) and ``report.html``. What stays by default is
``cache.sqlite``: it holds every raw completion and request of the run, the teacher's
output beyond what was kept, which is rarely meant to be published and can be large;
``include_cache`` sends it too. Human labels (``labels.jsonl``) and stray ``*.tmp`` files
never go.

The token is huggingface_hub's own (``HF_TOKEN``, or ``hf auth login``): tracemint never
reads, asks for or writes one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracemint.errors import MissingDependencyError, RunError, TracemintError
from tracemint.export.card import CARD_NAME, write_card
from tracemint.store import RunStore

#: What a push uploads (``upload_folder``'s allow patterns, relative to the run directory).
DATASET_FILES = [
    CARD_NAME,
    "manifest.json",
    "report.html",
    "traces/part-*.parquet",
    "export/*.parquet",
    "export/*.jsonl",
]
CACHE_FILES = ["cache.sqlite"]
IGNORED = ["*.tmp", "**/*.tmp"]
#: Remote files a push replaces wholesale: a shard or export gone here goes there too, so
#: the remote card never names a file that is not the one next to it.
MIRRORED = ["traces/*.parquet", "export/*"]


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    include_cache: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    api: Any = None,
) -> str:
    """Create ``repo_id`` as a dataset repo if needed and upload the run; returns the URL
    of the commit. ``api`` is an ``huggingface_hub.HfApi`` (default: one with the
    environment's endpoint and token)."""
    store = RunStore(run_dir)
    manifest = store.read_manifest()  # fails clearly on a directory that is not a run
    if not store.shards():
        raise RunError(f"{store.root}: no traces to push")
    write_card(store.root)
    if api is None:
        try:
            from huggingface_hub import HfApi
        except ImportError:
            raise MissingDependencyError(
                "huggingface_hub is needed for tracemint push: pip install huggingface_hub"
            ) from None
        api = HfApi()
    allow = DATASET_FILES + (CACHE_FILES if include_cache else [])
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(store.root),
            allow_patterns=allow,
            ignore_patterns=list(IGNORED),
            delete_patterns=list(MIRRORED),
            revision=revision,
            commit_message=commit_message or f"tracemint push of run {manifest.get('name', '')}",
        )
    except TracemintError:
        raise
    except Exception as e:  # the Hub's: HTTP status, no network, no token, bad repo id
        # One line the user can act on (the CLI prints it), the original chained for a
        # program that wants it: huggingface_hub's errors already say what is wrong.
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise TracemintError(
            f"push to the Hub dataset {repo_id!r} failed: {type(e).__name__}: {first} "
            "(a token comes from HF_TOKEN or `hf auth login`)"
        ) from e
    return str(getattr(info, "commit_url", None) or info)
