"""The dataset card: ``RUN/README.md``, which makes a run directory a Hugging Face dataset.

Why a card: ``datasets.load_dataset(RUN_DIR)`` on a bare run directory globs every data
file in it (trace shards, ``export/*.jsonl`` and ``*.parquet``) as one table and fails
("column names don't match"). The card's YAML front matter names one *config* per table
(``traces`` and one per export), so ``load_dataset(RUN_DIR, "traces")`` and
``load_dataset(RUN_DIR, "sft")`` each read their own files, locally or once pushed to the Hub
(``tracemint push``). The body says what every column means, the schema version, the counts
and the recipe (secrets never), so the dataset explains itself wherever it is copied.

Written from the files as they are (the shards' schema, the exports on disk), so it is
rewritten whenever those change: after ``tracemint run``, ``export`` and ``probe``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.parquet as pq

from tracemint import plugins
from tracemint.records import ALL_FIELDS
from tracemint.store import RunStore, atomic_write_bytes

#: The version of the run-as-dataset layout the card describes: the ``traces`` columns and
#: their types, the export layouts. Bumped when a reader of an older run would misread a
#: newer one (a column changes type or meaning), not when a column is added.
SCHEMA_VERSION = 1

CARD_NAME = "README.md"

_JSON_NOTE = (
    "`prompt`, `sampling` and `metadata` in `traces` are JSON text (`json.loads` them): "
    "`metadata` holds whatever fields a source row had, of any shape, and `prompt`/"
    "`sampling` are read as JSON by every stage of tracemint; the exports carry the "
    "conversation as structured messages (`list<struct<role, content>>`)."
)

#: Recipe keys whose values are never written (a recipe names the *environment variable*
#: holding a key, ``api_key_env``; these catch a plugin's setting that holds one itself).
_SECRET = re.compile(
    r"^(.*[_-])?(api_?key|token|secret|password|authorization|credentials?)$", re.I
)

_EXPORT_NOTES = {
    "sft": "TRL prompt-completion (conversational): the loss covers `completion` only",
    "sft_messages": "TRL conversational `messages`: TRL trains on every token by default",
    "sft_multitask": "two `messages` rows per trace: `[answer] question` -> final answer, "
    "`[rationale] question` -> rationale (column `task`)",
    "dpo": "TRL preference pairs: `prompt`, `chosen`, `rejected` (conversational)",
    "prm": "TRL stepwise supervision: `prompt`, `completions`, `labels`",
    "sft_partial": "checked-good prefixes of wrong traces, as `messages`",
}


def write_card(run_dir: str | Path) -> Path:
    """Write (or rewrite) ``RUN/README.md`` from the run as it is now; returns its path."""
    store = RunStore(run_dir)
    manifest = store.read_manifest()
    atomic_write_bytes(store.root / CARD_NAME, render_card(store, manifest).encode("utf-8"))
    return store.root / CARD_NAME


def export_files(store: RunStore) -> dict[str, Path]:
    """Each export in ``RUN/export`` -> its canonical file: the Parquet when there is one
    (typed even with no rows), else the JSONL."""
    found: dict[str, Path] = {}
    if store.export_dir.is_dir():
        for ext in ("jsonl", "parquet"):  # parquet second: it wins
            for path in sorted(store.export_dir.glob(f"*.{ext}")):
                found[path.name[: -len(ext) - 1]] = path
    return dict(sorted(found.items()))


def render_card(store: RunStore, manifest: dict[str, Any]) -> str:
    """The card's text: YAML front matter (configs, schema version), then Markdown."""
    name = str(manifest.get("name") or store.root.name)
    exports = export_files(store)
    # a run with no shard yet has no traces config: a glob that matches nothing fails to load
    traces = [("traces", "traces/*.parquet")] if store.shards() else []
    configs = traces + [
        (fmt, path.relative_to(store.root).as_posix()) for fmt, path in exports.items()
    ]
    # JSON strings are YAML scalars: no YAML library needed, and no quoting mistakes
    front = ["---", f"pretty_name: {json.dumps(name)}", "configs:"]
    for config, files in configs:
        front += [
            f"- config_name: {json.dumps(config)}",
            # the traces are what load_dataset(RUN) with no config name reads
            *(["  default: true"] if config == "traces" else []),
            "  data_files:",
            "  - split: train",
            f"    path: {json.dumps(files)}",
        ]
    front += [
        "tags:",
        "- tracemint",
        "- synthetic",
        "- chain-of-thought",
        f"tracemint_schema_version: {SCHEMA_VERSION}",
        "---",
    ]
    body = [
        f"# {name}",
        "",
        "Chain-of-thought traces minted and verified by "
        "[tracemint](https://github.com/tracemint/tracemint), with the training sets "
        f"exported from them. Run-dataset schema version {SCHEMA_VERSION}.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        *(
            f'{config} = load_dataset("{store.root.name}", "{config}", split="train")'
            for config, _ in configs
        ),
        "```",
        "",
        "(A path to this folder, or its Hub repo id once pushed.) An export with 0 rows "
        "keeps its columns in its Parquet file, but `datasets` refuses to build an empty "
        "split: read it with `streaming=True` or `pyarrow.parquet.read_table`.",
        "",
        *_counts(manifest, store, exports),
        "## Configs",
        "",
        *_configs(store, exports),
        "## Recipe",
        "",
        "As run (secrets are never recorded; a teacher's key is named by its environment "
        "variable):",
        "",
        "```json",
        json.dumps(redact(manifest.get("recipe", {})), indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(front + body)


def _counts(manifest: dict[str, Any], store: RunStore, exports: dict[str, Path]) -> list[str]:
    counts = manifest.get("counts", {})
    lines = ["## Counts", "", "| what | count |", "| --- | ---: |"]
    for key in ("problems", "traces", "accepted"):
        if key in counts:
            lines.append(f"| {key} | {counts[key]:,} |")
    for verdict, n in sorted((counts.get("verdicts") or {}).items()):
        lines.append(f"| verdict {verdict} | {n:,} |")
    for fmt, path in exports.items():
        lines.append(f"| export {fmt} rows | {_rows(path):,} |")
    teacher = manifest.get("teacher")
    if isinstance(teacher, dict):
        lines += ["", f"Teacher: `{json.dumps(redact(teacher), sort_keys=True)}`."]
    versions = manifest.get("versions")
    if isinstance(versions, dict) and versions.get("tracemint"):
        lines += ["", f"tracemint {versions['tracemint']}."]
    return [*lines, ""]


def _rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def _configs(store: RunStore, exports: dict[str, Path]) -> list[str]:
    shards = store.shards()
    lines = ["### traces", "", "One row per sampled rationale, the problem's columns repeated."]
    lines += ["", _JSON_NOTE, ""]
    if shards:
        lines += _columns(pq.read_schema(shards[0]), _trace_doc)
    else:
        lines += ["(no traces yet)", ""]
    for fmt, path in exports.items():
        note = _EXPORT_NOTES.get(fmt, "a plugin's export format")
        lines += [f"### {fmt}", "", f"`{path.relative_to(store.root).as_posix()}`: {note}.", ""]
        if path.suffix == ".parquet":
            lines += _columns(pq.read_schema(path), _export_doc)
        else:
            lines += ["(JSONL only: export with the parquet file type for typed columns)", ""]
    return lines


def _columns(schema: pa.Schema, doc: Any) -> list[str]:
    lines = ["| column | type | meaning |", "| --- | --- | --- |"]
    for field in schema:
        text = str(doc(field.name)).replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| `{field.name}` | `{field.type}` | {text} |")
    return [*lines, ""]


def _trace_doc(column: str) -> str:
    if column in ALL_FIELDS:
        return ALL_FIELDS[column][1]
    probe = next((p for p in plugins.probes.names() if column.startswith(p + "_")), None)
    if probe is not None:
        if column == f"{probe}_skipped":
            return f"why the `{probe}` probe did not score this trace (null: scored)"
        return f"written by the `{probe}` faithfulness probe (`tracemint probe`)"
    return "a column added by a stage or plugin"


_EXPORT_DOCS = {
    "prompt": "the conversation up to the question (TRL prompt)",
    "completion": "the assistant's rationale (TRL completion: the only tokens trained on)",
    "messages": "the whole conversation, question and rationale",
    "chosen": "the preferred rationale (verified)",
    "rejected": "the dispreferred rationale (known wrong)",
    "completions": "the rationale's steps",
    "labels": "per step: good (true) or bad (false)",
    "label_sources": "per step: the check behind its label",
    "step_ranges": "per completion: [first, last] step of the trace it covers",
    "label": "a human label of the trace (tracemint view), null when unlabelled",
    "label_note": "the human label's note",
}


def _export_doc(column: str) -> str:
    if column in _EXPORT_DOCS:
        return _EXPORT_DOCS[column]
    for prefix in ("chosen_", "rejected_"):
        if column.startswith(prefix) and column[len(prefix) :] in ALL_FIELDS:
            side = prefix.rstrip("_")
            return f"of the {side} trace: {ALL_FIELDS[column[len(prefix) :]][1]}"
    if column == "rejected_wrong_step":
        return "of the rejected trace: 0-based index of its first wrong step"
    if column in ALL_FIELDS:
        return ALL_FIELDS[column][1]
    return "a column added by the exporter"


def redact(value: Any) -> Any:
    """``value`` with secret-looking keys' values replaced and passwords cut out of URLs."""
    if isinstance(value, dict):
        return {
            k: "<redacted>" if _SECRET.search(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        parts = urlsplit(value)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = host + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
    return value
