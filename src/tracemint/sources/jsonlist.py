"""Stream the items of a top-level JSON list without loading the file whole.

SVAMP-style datasets ship as one big ``[...]``; ``json.load`` would hold it all in memory,
which is fine for 1,000 items and not for 1,000,000. The standard library's
``JSONDecoder.raw_decode`` parses one value at an offset, so a window of about one chunk
plus one item is enough: read, decode an item, drop it, repeat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

CHUNK = 1 << 16
# raw_decode reports a value cut off by the end of the window near that end (or, for a
# string, where it starts); an error further back is a real syntax error, and raising it at
# once avoids reading the rest of a large file only to fail anyway.
_NEAR_END = 8


class JsonListError(ValueError):
    """Malformed list content; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _Window:
    """A sliding window over a text stream that keeps count of the current line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False

    def more(self, size: int = CHUNK) -> bool:
        """Append up to ``size`` characters, dropping what was consumed; False at EOF."""
        data = "" if self.eof else self.stream.read(size)
        self.eof = self.eof or len(data) < size
        self.buf, self.pos = self.buf[self.pos :] + data, 0
        return bool(data)

    def peek(self) -> str:
        """Skip whitespace (counting newlines); the next character, or '' at EOF."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in " \t\r\n":
                self.line += buf[pos] == "\n"
                pos += 1
            self.pos = pos
            if pos < len(buf) or not self.more():
                return buf[pos] if pos < len(buf) else ""

    def decode(self, decoder: json.JSONDecoder) -> Any:
        """Decode the value at the cursor, reading more while it may be cut off."""
        size = CHUNK
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                at = self.line + self.buf.count("\n", self.pos, e.pos)  # before more() moves it
                cut = e.pos >= len(self.buf) - _NEAR_END or e.msg.startswith("Unterminated")
                if cut and self.more(size):
                    size *= 2  # amortised: an item of n chars costs O(n) re-parsing
                    continue
                raise JsonListError(at, f"invalid JSON: {e.msg}") from None
            except RecursionError:  # the parser recurses per [ or {: [[[[...]]]] x 100,000
                raise JsonListError(self.line, "invalid JSON: nested too deeply") from None
            # A number (or the item's closing brace) at the very end may continue past it.
            if end == len(self.buf) and self.more(size):
                continue
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            return value


def iter_json_list(stream: TextIO) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, item)`` for each item of the JSON list in ``stream``.

    ``line`` is where the item starts. Raises ``JsonListError`` on malformed content,
    including content that is not a list.
    """
    w = _Window(stream)
    decoder = json.JSONDecoder()
    if w.peek() != "[":
        raise JsonListError(w.line, "expected a JSON list '['")
    w.pos += 1
    first = True
    while (c := w.peek()) != "]":
        if not first:
            if c != ",":
                found = repr(c) if c else "end of file"
                raise JsonListError(
                    w.line, f"invalid JSON: expected ',' or ']' after a list item, got {found}"
                )
            w.pos += 1
            w.peek()
        first = False
        line = w.line
        yield line, w.decode(decoder)
    w.pos += 1
    if w.peek():
        raise JsonListError(w.line, "invalid JSON: extra data after the closing ']'")
