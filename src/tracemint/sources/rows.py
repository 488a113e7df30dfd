"""Streaming row readers: any supported input file -> raw dicts, one row at a time.

``FileSource`` maps rows to problems and ``tracemint verify`` checks arbitrary user files;
both need the same two things, so they live here once: never holding a whole file in memory
(a 1M-line JSONL must stream), and errors that name the file, the line (or, for columnar
formats, the row index) and the field, so a user can fix their data without guessing.

Formats: JSON lines (``.jsonl``/``.ndjson``), JSON (``.json``: a list of objects, or JSON
lines content under a ``.json`` name, as AQuA ships), CSV, Parquet, Arrow IPC (``.arrow``,
stream or file format), and Hugging Face ``save_to_disk`` directories, read with pyarrow
alone so the ``datasets`` package is never needed at run time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from tracemint.errors import SourceError
from tracemint.sources.jsonlist import JsonListError, iter_json_list

Format = Literal["auto", "jsonl", "json", "csv", "parquet", "arrow", "hf"]
FORMATS: tuple[str, ...] = ("auto", "jsonl", "json", "csv", "parquet", "arrow", "hf")
EXTENSIONS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
}
# Rows converted to Python objects at a time for columnar formats: small enough that a
# batch of long solutions stays a few MB, large enough that per-batch overhead vanishes.
BATCH_ROWS = 1024
_COLUMNAR = ("parquet", "arrow", "hf")
NESTED_TOO_DEEP = "nested too deeply (lists or objects inside each other ~1,000 levels deep)"


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages users can map to their file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def detect_format(path: Path) -> str:
    """The format implied by ``path``: a directory is an HF dataset, a file goes by extension."""
    if path.is_dir():
        return "hf"
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise SourceError(
            f"cannot tell the format from the extension {path.suffix!r} (known: {known}); "
            f"set format to one of {', '.join(FORMATS[1:])}",
            path=str(path),
        )
    return fmt


class RowReader:
    """One input file (or HF directory), read as ``(index, number, row)`` triples.

    ``index`` is the 0-based row index among the file's rows. ``number`` is where the row
    is: the 1-based line it starts on for text formats (``unit == "line"``), the 0-based row
    index for columnar ones (``unit == "row"``). Opening checks the path, the format and the
    split eagerly, so a bad recipe fails before any work starts; rows are read lazily.
    """

    def __init__(self, path: str | Path, *, format: str = "auto", split: str | None = None):
        self.path = Path(path)
        if format not in FORMATS:
            raise SourceError(
                f"unknown format {format!r}; known: {', '.join(FORMATS)}", path=str(self.path)
            )
        if not self.path.exists():
            raise SourceError("no such file or directory", path=str(self.path))
        self.format = detect_format(self.path) if format == "auto" else format
        self.unit = "row" if self.format in _COLUMNAR else "line"
        self.split: str | None = None
        self._has_rows = False  # whether the last rows() call met any row, skipped or not
        self.data_files: list[Path] = []
        if self.format == "hf":
            self._resolve_hf(split)
        elif split is not None:
            raise SourceError(
                f"split={split!r} only applies to a Hugging Face dataset directory",
                path=str(self.path),
            )
        elif self.path.is_dir():
            raise SourceError(f"is a directory, not a {self.format} file", path=str(self.path))

    @property
    def default_name(self) -> str:
        """A short source name: the file stem, the dataset directory, plus the split if any."""
        if self.format != "hf":
            return self.path.stem
        root = self.path.parent if self.split is not None else self.path
        return f"{root.name}-{self.split}" if self.split is not None else root.name

    def error(self, number: int, message: str, field: str | None = None) -> SourceError:
        """A ``SourceError`` located at ``number`` (a line or a row index, per ``unit``)."""
        if self.unit == "line":
            return SourceError(message, path=str(self.path), line=number, field=field)
        # SourceError knows lines, not rows: put the row in the located prefix so the message
        # reads "data.parquet, row 3, field 'question': ...", then keep .path the bare path.
        err = SourceError(message, path=f"{self.path}, row {number}", field=field)
        err.path = str(self.path)
        err.row = number  # type: ignore[attr-defined]
        return err

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for _, number, row in self.rows():
            yield number, row

    def rows(self, skip: int = 0) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """Stream ``(index, number, row)``, leaving out the first ``skip`` rows cheaply.

        Skipped rows are counted but not checked (JSONL lines are not even parsed, Parquet
        skips whole row groups), so a malformed row before ``skip`` goes unreported. A file
        with no rows at all is an error: an empty input is almost always a mistake upstream.
        """
        readers = {
            "jsonl": self._jsonl_rows,
            "json": self._json_rows,
            "csv": self._csv_rows,
            "parquet": self._parquet_rows,
            "arrow": self._arrow_rows,
            "hf": self._arrow_rows,
        }
        self._has_rows = False
        yield from readers[self.format](skip)
        if not self._has_rows:
            raise SourceError("has no rows (empty file)", path=str(self.path))

    def count_rows(self) -> int | None:
        """The number of rows when it is cheap to know without parsing them, else None.

        Parquet keeps it in the footer, Arrow batches carry it, and counting JSONL lines
        needs no JSON parsing; a JSON list or a CSV (quoted newlines) would need a full parse.
        """
        if self.format == "parquet":
            try:
                return int(pq.ParquetFile(self.path).metadata.num_rows)
            except (pa.ArrowException, OSError):
                return None
        if self.format in ("arrow", "hf"):
            return sum(batch.num_rows for batch in self._ipc_batches())
        if self.format == "jsonl":
            with self._open("rb") as f:
                return sum(1 for raw in f if raw.strip())
        return None

    # -- text formats -------------------------------------------------------------------

    def _object(self, value: Any, number: int) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(number, f"expected a JSON object, got {json_type(value)}")
        return value

    def _jsonl_rows(self, skip: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        # Binary lines split on b"\n" only, so line numbers match what editors show.
        index = 0
        with self._open("rb") as f:
            for number, raw in enumerate(f, 1):
                if number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")  # BOM from Windows tools
                if not raw.strip():
                    continue
                self._has_rows = True
                if index >= skip:
                    yield index, number, self._object(self._parse_line(raw, number), number)
                index += 1

    def _parse_line(self, raw: bytes, number: int) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise self.error(number, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
        except json.JSONDecodeError as e:
            hint = " (a .json file must hold one JSON list, or one object per line)"
            hint = hint if self.format == "json" else ""
            raise self.error(
                number, f"invalid JSON: {e.msg.removesuffix(' at')} at column {e.colno}{hint}"
            ) from None
        except RecursionError:  # the parser recurses per [ or {: e.g. [[[[...]]]] x 100,000
            raise self.error(number, f"invalid JSON: {NESTED_TOO_DEEP}") from None

    def _json_rows(self, skip: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        # A .json file holds either one list (SVAMP) or, despite the name, JSON lines (AQuA).
        head = b""
        with self._open("rb") as f:
            while not head and (chunk := f.read(4096)):
                head = (head + chunk).removeprefix(b"\xef\xbb\xbf").lstrip()
        if not head.startswith(b"["):
            yield from self._jsonl_rows(skip)
            return
        with self._open("r", encoding="utf-8-sig") as f:
            items = iter_json_list(f)
            index = 0
            while True:
                try:
                    number, value = next(items)
                except StopIteration:
                    return
                except JsonListError as e:
                    raise self.error(e.line, str(e)) from None
                except UnicodeDecodeError as e:
                    raise SourceError(
                        f"not valid UTF-8 ({e.reason})", path=str(self.path)
                    ) from None
                self._has_rows = True
                if index >= skip:
                    yield index, number, self._object(value, number)
                index += 1

    def _csv_rows(self, skip: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        # CSV has no types: every value stays the string in the file.
        with self._open("r", encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header: list[str] | None = None
            index = 0
            while True:
                number = reader.line_num + 1  # a row may span lines: report where it starts
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except (csv.Error, UnicodeDecodeError) as e:
                    raise self.error(number, f"malformed CSV: {e}") from None
                if not cells:
                    continue
                if header is None:
                    header = cells
                    dupes = sorted({c for c in cells if cells.count(c) > 1})
                    if dupes:
                        raise self.error(number, f"duplicate column names in the header: {dupes}")
                    continue
                if len(cells) != len(header):
                    raise self.error(
                        number, f"has {len(cells)} fields but the header has {len(header)}"
                    )
                self._has_rows = True
                if index >= skip:
                    yield index, number, dict(zip(header, cells, strict=True))
                index += 1

    def _open(self, mode: str, **kwargs: Any) -> Any:
        try:
            return self.path.open(mode, **kwargs)
        except OSError as e:
            raise SourceError(f"cannot open: {e.strerror}", path=str(self.path)) from None

    # -- columnar formats ---------------------------------------------------------------

    def _parquet_rows(self, skip: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as e:
            raise SourceError(f"not a readable Parquet file: {e}", path=str(self.path)) from None
        meta = pf.metadata
        self._has_rows = meta.num_rows > 0
        first, start = 0, 0  # skip whole row groups without decoding them
        while first < meta.num_row_groups and start + meta.row_group(first).num_rows <= skip:
            start += meta.row_group(first).num_rows
            first += 1
        groups = list(range(first, meta.num_row_groups))
        if groups:
            yield from self._batch_rows(pf.iter_batches(BATCH_ROWS, row_groups=groups), start, skip)

    def _arrow_rows(self, skip: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        yield from self._batch_rows(self._ipc_batches(), 0, skip)

    def _ipc_batches(self) -> Iterator[pa.RecordBatch]:
        """Batches of every Arrow file in order: HF splits may be sharded over several."""
        for file in self.data_files or [self.path]:
            with pa.memory_map(str(file)) as source:
                yield from self._open_ipc(source, file)

    @staticmethod
    def _open_ipc(source: pa.MemoryMappedFile, file: Path) -> Iterable[pa.RecordBatch]:
        # HF save_to_disk writes the IPC *stream* format; accept the file format too.
        try:
            return pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            source.seek(0)
        try:
            reader = pa.ipc.open_file(source)
        except pa.ArrowInvalid as e:
            raise SourceError(f"not a readable Arrow IPC file: {e}", path=str(file)) from None
        return (reader.get_batch(i) for i in range(reader.num_record_batches))

    def _batch_rows(
        self,
        batches: Iterator[pa.RecordBatch],
        start: int,
        skip: int,
    ) -> Iterator[tuple[int, int, dict[str, Any]]]:
        index = start
        for batch in batches:
            n = batch.num_rows
            if n:
                self._has_rows = True
            if index + n > skip:
                lo = max(0, skip - index)
                for offset, row in enumerate(batch.slice(lo).to_pylist()):
                    yield index + lo + offset, index + lo + offset, row
            index += n

    def _resolve_hf(self, split: str | None) -> None:
        """Find the Arrow files of a ``save_to_disk`` directory (a Dataset or a DatasetDict)."""
        root = self.path
        dict_file = root / "dataset_dict.json"
        if dict_file.exists():
            splits = list(_metadata(dict_file).get("splits", []))
            if split is None:
                if "test" in splits:
                    split = "test"
                elif len(splits) == 1:
                    split = splits[0]
                else:
                    raise SourceError(
                        f"has splits {splits} and none is 'test'; set split to one of them",
                        path=str(root),
                    )
            elif split not in splits:
                raise SourceError(f"has no split {split!r}; splits: {splits}", path=str(root))
            self.split, root = split, root / split
            self.path = root
        elif split is not None:
            raise SourceError(
                f"split={split!r} was given but this dataset has no splits (no dataset_dict.json)",
                path=str(root),
            )
        state = root / "state.json"
        if state.exists():
            entries = _metadata(state).get("_data_files", [])
            try:
                files = [root / e["filename"] for e in entries]
            except (TypeError, KeyError):
                raise SourceError(
                    "_data_files: expected a list of {'filename': ...} objects", path=str(state)
                ) from None
        else:
            files = sorted(root.glob("data-*.arrow"))
        if not files:
            raise SourceError(
                "not a Hugging Face save_to_disk directory: no data-*.arrow files "
                "and no dataset_dict.json",
                path=str(root),
            )
        self.data_files = files


def _metadata(path: Path) -> dict[str, Any]:
    """A Hugging Face directory's JSON metadata file, or a ``SourceError`` naming it."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError) as e:
        raise SourceError(f"cannot read this dataset metadata: {e}", path=str(path)) from None
    except json.JSONDecodeError as e:
        raise SourceError(f"invalid JSON: {e.msg}", path=str(path), line=e.lineno) from None
    if not isinstance(value, dict):
        raise SourceError(f"expected a JSON object, got {json_type(value)}", path=str(path))
    return value


def iter_rows(
    path: str | Path,
    *,
    format: str = "auto",
    split: str | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(number, row)`` from any supported file: the reader ``tracemint verify`` uses.

    ``number`` is the 1-based line a row starts on for JSONL, JSON and CSV, and the 0-based
    row index for Parquet, Arrow and HF directories. Malformed input raises ``SourceError``
    naming the file, the line or row, and the field. The path, format and split are checked
    when this is called; rows are read as the iterator is consumed.
    """
    return iter(RowReader(path, format=format, split=split))
