"""Sources: where problems come from (``tracemint`` stage one).

Importing this package registers every built-in source in ``sources``.
"""

from tracemint.sources.base import Source, SourceConfig, create_source, sources
from tracemint.sources.files import PRESETS, FileSource, FileSourceConfig
from tracemint.sources.rows import RowReader, iter_rows

__all__ = [
    "PRESETS",
    "FileSource",
    "FileSourceConfig",
    "RowReader",
    "Source",
    "SourceConfig",
    "create_source",
    "iter_rows",
    "sources",
]
