"""Checking the one result frame a sandbox worker sends back, which its program can forge.

The zygote reads it from a pipe whose write end the worker holds while the program runs, so
the program can write there too: whatever the bytes are, :func:`check_frame` returns either
a well-formed result or the program's own ``SandboxProtocolError`` verdict, and never
raises. Loaded by :mod:`tracemint.verify._sandbox_zygote` by path; a leaf: it imports
nothing of the package, so the zygote's start pays for nothing more.
"""

from __future__ import annotations

import json
from typing import Any

_RESULT_FIELDS = ("status", "value", "value_type", "error_type", "message", "resource",
                  "stdout", "stderr")  # fmt: skip
_STATUSES = frozenset({"ok", "error", "timeout", "killed"})
_RESOURCES = frozenset({None, "cpu", "memory", "output", "processes", "disk", "signal"})


def protocol_error(what: str) -> dict[str, Any]:
    """The verdict for a program whose result channel held something no worker writes."""
    return {**dict.fromkeys(_RESULT_FIELDS), "status": "error", "stdout": "", "stderr": "",
            "error_type": "SandboxProtocolError",
            "message": f"the result channel held {what}"}  # fmt: skip


def check_frame(data: bytes, max_output_bytes: int) -> dict[str, Any]:
    """Validate everything a worker's result pipe carried; never raises.

    The program can write to that pipe (its worker holds the write end while it runs), so
    the bytes are untrusted: exactly one newline-terminated JSON object, byte for byte as
    :func:`json.dumps` writes it, with exactly the result fields, each of the right type,
    or a ``SandboxProtocolError`` verdict that names what was wrong. A program can at worst
    report a result of its own making, which is no more than ``return`` gives it; it can
    never break the zygote or the caller.
    """
    frames = data.count(b"\n")
    if frames != 1 or not data.endswith(b"\n"):
        return protocol_error(f"{frames} frames, not one")
    try:
        frame = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return protocol_error("a frame that is not UTF-8")
    except (ValueError, RecursionError):
        return protocol_error("a frame that is not JSON")
    if not isinstance(frame, dict):
        return protocol_error(f"a JSON {type(frame).__name__}, not an object")
    if (json.dumps(frame) + "\n").encode() != data:
        # json.loads forgives whitespace, duplicate keys and escapes a worker never writes:
        # anything else on the channel (a program's stray "\t" before the frame) is its own
        return protocol_error("a frame not byte for byte in the worker's encoding")
    extra = sorted(set(frame) - set(_RESULT_FIELDS))
    missing = [name for name in _RESULT_FIELDS if name not in frame]
    if extra or missing:
        return protocol_error(f"a frame with unexpected keys {extra[:5]} / missing {missing}")
    for name in _RESULT_FIELDS:
        value = frame[name]
        if not isinstance(value, str) and (value is not None or name in ("status", "stdout",
                                                                         "stderr")):  # fmt: skip
            return protocol_error(f"a frame whose {name!r} is a {type(value).__name__}")
    if frame["status"] not in _STATUSES or frame["resource"] not in _RESOURCES:
        return protocol_error(f"a frame with status {frame['status']!r:.40} and resource "
                               f"{frame['resource']!r:.40}")  # fmt: skip
    if frame["status"] == "ok" and (frame["value"] is None or frame["value_type"] is None):
        return protocol_error("an ok frame without a value")
    for name in ("value", "stdout", "stderr"):
        if len(frame[name] or "") > max_output_bytes:
            return protocol_error(f"a frame whose {name!r} is over {max_output_bytes} characters")
    return frame
