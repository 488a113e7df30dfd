"""Checking the one result frame a sandbox worker sends back, which its program can forge.

The zygote reads it from a pipe whose write end the worker holds while the program runs, so
the program can write there too: whatever the bytes are, :func:`check_frame` returns either
a well-formed result or the program's own ``SandboxProtocolError`` verdict, and never
raises. Loaded by :mod:`tracemint.verify._sandbox_zygote` by path, like the worker module.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import TYPE_CHECKING, Any


def _worker_module() -> Any:
    """The worker module the zygote loaded by path before this one (``_sandbox_zygote``'s
    ``_sibling``, which also loads this module); imported as part of the package instead
    (tests), the package's own copy."""
    return sys.modules.get("_tracemint_sandbox_worker") or importlib.import_module(
        "tracemint.verify._sandbox_worker"
    )


if TYPE_CHECKING:
    from tracemint.verify._sandbox_worker import _error
else:
    _error = _worker_module()._error


_RESULT_FIELDS = ("status", "value", "value_type", "error_type", "message", "resource",
                  "stdout", "stderr")  # fmt: skip
_STATUSES = frozenset({"ok", "error", "timeout", "killed"})
_RESOURCES = frozenset({None, "cpu", "memory", "output", "processes", "disk", "signal"})


def protocol_error(what: str) -> dict[str, Any]:
    """The verdict for a program whose result channel held something no worker writes."""
    return _error("SandboxProtocolError", f"the result channel held {what}")


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
